//! The built-in profiles: how each known agent CLI (`claude`, `codex`, `gemini`, `opencode`,
//! `aider`) runs headless, resumes, reports, and which permission modes it has.
//!
//! Owns that table and nothing else: it is data, read by `layers.rs` (the first layer of a
//! profile) and `git agent profiles`. It must not read config or files, nor decide anything
//! about the sandbox (`sandbox.rs` keeps where each CLI writes its own state).

use super::output::Format;

/// Built-in profile names, in the order `git agent new` looks for them when no default is set.
pub const DETECT_ORDER: &[&str] = &["claude", "codex", "gemini", "opencode", "aider"];

/// A permission mode of a built-in profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub name: &'static str,
    /// What replaces `{mode}` in the argument templates.
    pub args: &'static [&'static str],
    /// Environment the mode needs when git-agent runs as root.
    pub root_env: &'static [(&'static str, &'static str)],
    /// Everything allowed without asking.
    pub bypass: bool,
    /// Cannot edit files: the mode `git agent plan draft` runs the agent in.
    pub read_only: bool,
    pub about: &'static str,
}

/// One built-in profile: its command lines, output format, modes and defaults.
pub(super) struct Builtin {
    pub(super) name: &'static str,
    pub(super) program: &'static str,
    pub(super) args: &'static [&'static str],
    pub(super) resume: Option<&'static [&'static str]>,
    pub(super) format: Format,
    pub(super) modes: &'static [Mode],
    pub(super) default_mode: &'static str,
    pub(super) env: &'static [(&'static str, &'static str)],
    pub(super) leaves: &'static [&'static str],
    /// Start its sessions one at a time: OpenCode 1.18, started twice at once with a fresh
    /// home, fails one run migrating its SQLite database (`Failed query: CREATE TABLE`).
    pub(super) start_serially: bool,
}

// Headless invocations established with the real CLIs through the agent rig (claude 2.1.197,
// codex 0.169.0, gemini 0.61.0, opencode 1.18.33, aider 0.86.2): structured output, stdin
// closed (or the prompt file), and a default mode that lets the agent edit files in its
// worktree without stopping to ask, but not run arbitrary commands unsandboxed. A denied
// permission never blocks any of them headless; it is refused or the tool is not offered.
pub(super) const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "claude",
        program: "claude",
        args: &CLAUDE_ARGS,
        resume: Some(&CLAUDE_RESUME),
        format: Format::Claude,
        modes: &[
            Mode {
                name: "acceptEdits",
                args: &["--permission-mode", "acceptEdits"],
                root_env: &[],
                bypass: false,
                read_only: false,
                about: "edits files in the worktree and runs simple read-only commands; anything else is refused",
            },
            Mode {
                name: "auto",
                args: &["--permission-mode", "auto"],
                root_env: &[],
                bypass: false,
                read_only: false,
                about: "edits files; a classifier decides which commands may run",
            },
            Mode {
                name: "plan",
                args: &["--permission-mode", "plan"],
                root_env: &[],
                bypass: false,
                read_only: true,
                about: "reads and plans only",
            },
            Mode {
                name: "bypass",
                args: &["--dangerously-skip-permissions"],
                // Claude refuses this flag as root unless told it runs in a sandbox.
                root_env: &[("IS_SANDBOX", "1")],
                bypass: true,
                read_only: false,
                about: "runs any command and writes anywhere, without asking",
            },
        ],
        default_mode: "acceptEdits",
        env: &[],
        leaves: &[],
        start_serially: false,
    },
    Builtin {
        name: "codex",
        program: "codex",
        args: &[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "{mode}",
            "{prompt}",
        ],
        // `exec resume` rejects --sandbox, and a resume without it silently runs read-only:
        // the mode goes before `resume`.
        resume: Some(&[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "{mode}",
            "resume",
            "{session_id}",
            "{prompt}",
        ]),
        format: Format::Codex,
        modes: &[
            Mode {
                name: "workspace-write",
                args: &["--sandbox", "workspace-write"],
                root_env: &[],
                bypass: false,
                read_only: false,
                about: "runs any command inside a sandbox that can write only the worktree (no network)",
            },
            Mode {
                name: "read-only",
                args: &["--sandbox", "read-only"],
                root_env: &[],
                bypass: false,
                read_only: true,
                about: "runs commands in a read-only sandbox; edits are refused",
            },
            Mode {
                name: "bypass",
                args: &["--dangerously-bypass-approvals-and-sandbox"],
                root_env: &[],
                bypass: true,
                read_only: false,
                about: "no sandbox, no approvals",
            },
        ],
        default_mode: "workspace-write",
        env: &[],
        leaves: &[],
        start_serially: false,
    },
    Builtin {
        name: "gemini",
        program: "gemini",
        args: &GEMINI_ARGS,
        resume: Some(&GEMINI_RESUME),
        format: Format::Gemini,
        modes: &[
            Mode {
                name: "auto_edit",
                args: &["--approval-mode", "auto_edit"],
                root_env: &[],
                bypass: false,
                read_only: false,
                about: "edits files in the worktree; no shell tool is offered",
            },
            Mode {
                name: "plan",
                args: &["--approval-mode", "plan"],
                root_env: &[],
                bypass: false,
                read_only: true,
                about: "reads and plans only",
            },
            Mode {
                name: "yolo",
                args: &["--approval-mode", "yolo"],
                root_env: &[],
                bypass: true,
                read_only: false,
                about: "runs any command without asking",
            },
        ],
        default_mode: "auto_edit",
        env: &[],
        leaves: &[],
        start_serially: false,
    },
    Builtin {
        name: "opencode",
        program: "opencode",
        // The prompt goes on stdin: given as an argument it reaches the model in literal quotes.
        args: &["run", "--format", "json", "{mode}"],
        resume: Some(&[
            "run",
            "--format",
            "json",
            "{mode}",
            "--session",
            "{session_id}",
        ]),
        format: Format::Opencode,
        modes: &[
            Mode {
                name: "edits",
                args: &[],
                root_env: &[],
                bypass: false,
                read_only: false,
                about: "edits files; the shell tool is denied",
            },
            Mode {
                name: "default",
                args: &[],
                root_env: &[],
                bypass: false,
                read_only: false,
                about: "opencode's own rules: edits and any shell command, unsandboxed",
            },
            Mode {
                name: "read-only",
                args: &[],
                root_env: &[],
                bypass: false,
                read_only: true,
                about: "reads only: edits and the shell tool are denied",
            },
            Mode {
                name: "bypass",
                args: &["--auto"],
                root_env: &[],
                bypass: true,
                read_only: false,
                about: "approves every permission request",
            },
        ],
        default_mode: "edits",
        env: &[],
        leaves: &[],
        start_serially: true,
    },
    Builtin {
        name: "aider",
        program: "aider",
        // --no-gitignore: aider would otherwise add .aider* to .gitignore and leave that edit
        // uncommitted; its files are listed in `leaves` instead.
        args: &AIDER_ARGS,
        resume: Some(&AIDER_RESUME),
        format: Format::Aider,
        modes: &[
            Mode {
                name: "yes-always",
                args: &["--yes-always"],
                root_env: &[],
                bypass: false,
                read_only: false,
                about: "applies its edits and commits them; suggested commands are never run",
            },
            // Aider's ask mode discusses the code and never edits it; its chat and input
            // histories (files in the worktree otherwise) go nowhere. Its repository map's
            // cache (`.aider.tags.cache.*`) has no such setting: only the sandbox keeps it out
            // of a checkout (seen with aider 0.86.2).
            Mode {
                name: "ask",
                args: &[
                    "--chat-mode",
                    "ask",
                    "--yes-always",
                    "--no-auto-commits",
                    "--no-dirty-commits",
                    "--chat-history-file",
                    "/dev/null",
                    "--input-history-file",
                    "/dev/null",
                ],
                root_env: &[],
                bypass: false,
                read_only: true,
                about: "answers questions about the code and never edits it",
            },
        ],
        default_mode: "yes-always",
        env: &[],
        leaves: &[".aider*"],
        start_serially: false,
    },
];

/// Extra environment of a mode beyond its flags (opencode's edits-only mode is an env var).
pub(super) fn mode_env(profile: &str, mode: &str) -> &'static [(&'static str, &'static str)] {
    match (profile, mode) {
        ("opencode", "edits") => &[("OPENCODE_PERMISSION", r#"{"bash":"deny"}"#)],
        ("opencode", "read-only") => &[("OPENCODE_PERMISSION", r#"{"edit":"deny","bash":"deny"}"#)],
        _ => &[],
    }
}

/// The built-in profile of that name, if any.
pub(super) fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The permission modes of a built-in profile (empty for other names).
pub fn builtin_modes(name: &str) -> &'static [Mode] {
    builtin(name).map_or(&[], |b| b.modes)
}

/// The mode of a built-in profile that cannot edit files, if it has one.
pub fn read_only_mode(name: &str) -> Option<&'static Mode> {
    builtin_modes(name).iter().find(|m| m.read_only)
}
/// Aider's command line; resuming adds only the chat history of the worktree.
const AIDER_ARGS: [&str; 9] = [
    "--message",
    "{prompt}",
    "{mode}",
    "--no-pretty",
    "--no-fancy-input",
    "--no-check-update",
    "--no-show-release-notes",
    "--analytics-disable",
    "--no-gitignore",
];
const AIDER_RESUME: [&str; 10] = insert(AIDER_ARGS, 9, ["--restore-chat-history"]);

/// Claude Code's command line; resuming adds `--resume <id>` after the prompt.
const CLAUDE_ARGS: [&str; 6] = [
    "-p",
    "{prompt}",
    "--output-format",
    "stream-json",
    "--verbose",
    "{mode}",
];

/// Gemini CLI's command line (without --skip-trust a new worktree is an untrusted folder:
/// exit 55, even in yolo); resuming adds `--resume <id>` after the prompt.
const GEMINI_ARGS: [&str; 6] = [
    "-p",
    "{prompt}",
    "--output-format",
    "stream-json",
    "{mode}",
    "--skip-trust",
];

const RESUME_SESSION: [&str; 2] = ["--resume", "{session_id}"];
const CLAUDE_RESUME: [&str; 8] = insert(CLAUDE_ARGS, 2, RESUME_SESSION);
const GEMINI_RESUME: [&str; 8] = insert(GEMINI_ARGS, 2, RESUME_SESSION);

/// `args` with `extra` inserted before position `at` (`M` must be `N + K`: checked when the
/// constant is built, so a wrong length does not compile).
const fn insert<const N: usize, const K: usize, const M: usize>(
    args: [&'static str; N],
    at: usize,
    extra: [&'static str; K],
) -> [&'static str; M] {
    assert!(M == N + K && at <= N);
    let mut out = [""; M];
    let mut i = 0;
    while i < M {
        out[i] = if i < at {
            args[i]
        } else if i < at + K {
            extra[i - at]
        } else {
            args[i - K]
        };
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_command_lines_insert_the_session_where_each_cli_wants_it() {
        assert_eq!(
            CLAUDE_RESUME,
            [
                "-p",
                "{prompt}",
                "--resume",
                "{session_id}",
                "--output-format",
                "stream-json",
                "--verbose",
                "{mode}"
            ]
        );
        assert_eq!(
            GEMINI_RESUME[..4],
            ["-p", "{prompt}", "--resume", "{session_id}"]
        );
        assert_eq!(GEMINI_RESUME[4..], GEMINI_ARGS[2..]);
        assert_eq!(AIDER_RESUME[..9], AIDER_ARGS);
        assert_eq!(AIDER_RESUME[9], "--restore-chat-history");
    }
}
