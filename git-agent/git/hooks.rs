//! Which hooks our own git commands run: those of the main worktree, never ones an agent could
//! have written in its own worktree (a relative `core.hooksPath` such as `.githooks` or
//! husky's would otherwise resolve inside it).

use std::path::Path;

use crate::process::Cmd;

/// `-c core.hooksPath=<absolute>`: the hooks folder as the main worktree resolves it (a
/// relative `core.hooksPath` is relative to the main worktree, not to the agent's; unset, the
/// common dir's `hooks/`). Given on the command line, it also wins over anything an agent
/// could have put in its worktree's own config (`config.worktree`).
pub fn trusted_hooks(main_worktree: &Path, common_dir: &Path) -> [String; 2] {
    let configured = Cmd::git_in(main_worktree)
        .args(["config", "--type=path", "--get", "core.hooksPath"])
        .run()
        .ok()
        .map(|v| v.trim_end_matches('\n').to_owned())
        .filter(|v| !v.is_empty());
    let dir = match configured {
        Some(v) if Path::new(&v).is_absolute() => std::path::PathBuf::from(v),
        Some(v) => main_worktree.join(v),
        None => common_dir.join("hooks"),
    };
    ["-c".to_owned(), format!("core.hooksPath={}", dir.display())]
}
