//! What an agent CLI needs when two sessions share one checkout (`git agent new --in NAME`)
//! and the CLI keeps per-checkout state that would mix their conversations.
//!
//! Aider keeps one chat history per checkout (`.aider.chat.history.md` and
//! `.aider.input.history` at the git toplevel, aider 0.86.2), and its resume
//! (`--restore-chat-history`) restores the whole file: two aider sessions in one worktree would
//! append to it in turn and each resume would restore both conversations. A session that
//! shares another's worktree therefore gets files of its own, bound once into its recorded
//! [`AgentSpec`] (its first-run *and* resume templates) when the record is made, so every run
//! of it (first, `send`, queued follow-ups, retries) carries them without anything else to
//! remember. The session that made the worktree keeps aider's defaults.
//!
//! The files sit in the worktree under `.aider.<session>.*` rather than in git-agent's state
//! folder: under the write sandbox an agent may write its worktree but not the state folder,
//! and a relative name works wherever the agent runs (its cwd is the worktree root). They
//! match the built-in profile's `.aider*` leaves (never committed, never counted as work); a
//! profile whose leaves do not cover them gets them added.
//!
//! A profile or mode that already names a history file (aider's `ask` mode sends both to
//! `/dev/null`) or sets it through aider's environment is left as it is. Owns nothing on
//! disk; never runs or prints anything.

use super::output::Format;
use crate::session::AgentSpec;

/// Aider's history flags and the environment variables that set the same thing.
const AIDER_HISTORIES: [(&str, &str, &str); 2] = [
    (
        "--chat-history-file",
        "AIDER_CHAT_HISTORY_FILE",
        "chat.history.md",
    ),
    (
        "--input-history-file",
        "AIDER_INPUT_HISTORY_FILE",
        "input.history",
    ),
];

/// Gives the session `name`, which shares another session's worktree, the per-session state
/// its CLI would otherwise share with the other (see the module doc). A no-op for CLIs that
/// keep conversations by session id.
pub fn separate_histories(spec: &mut AgentSpec, name: &str) {
    if spec.format != Format::Aider {
        return;
    }
    for (flag, var, suffix) in AIDER_HISTORIES {
        if spec.env.iter().any(|(k, _)| k == var) {
            continue;
        }
        let file = format!(".aider.{name}.{suffix}");
        let mut added = false;
        for template in std::iter::once(&mut spec.args).chain(spec.resume_args.as_mut()) {
            if !sets_flag(template, flag) {
                template.push(flag.to_owned());
                template.push(file.clone());
                added = true;
            }
        }
        if added && !spec.leaves.iter().any(|g| crate::globs::matches(g, &file)) {
            spec.leaves.push(file);
        }
    }
}

/// The template already gives `flag` (`--flag VALUE` or `--flag=VALUE`).
fn sets_flag(template: &[String], flag: &str) -> bool {
    template.iter().any(|a| {
        a == flag
            || a.strip_prefix(flag)
                .is_some_and(|rest| rest.starts_with('='))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(format: Format, args: &[&str], resume: Option<&[&str]>) -> AgentSpec {
        let strings = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        AgentSpec {
            profile: "aider".into(),
            source: "builtin".into(),
            program: "aider".into(),
            args: strings(args),
            resume_args: resume.map(strings),
            prompt_via: "arg".into(),
            env: Vec::new(),
            permission_mode: None,
            bypass: false,
            read_only: false,
            format,
            leaves: vec![".aider*".into()],
            sandbox_writes: Vec::new(),
        }
    }

    #[test]
    fn aider_gets_its_own_histories_in_both_templates() {
        let mut s = spec(
            Format::Aider,
            &["--message", "{prompt}"],
            Some(&["--message", "{prompt}", "--restore-chat-history"]),
        );
        separate_histories(&mut s, "plan");
        let tail = [
            "--chat-history-file",
            ".aider.plan.chat.history.md",
            "--input-history-file",
            ".aider.plan.input.history",
        ];
        assert_eq!(s.args[2..], tail);
        assert_eq!(s.resume_args.as_ref().unwrap()[3..], tail);
        // `.aider*` already covers them.
        assert_eq!(s.leaves, [".aider*"]);
    }

    #[test]
    fn histories_set_by_the_profile_are_kept() {
        let ask = [
            "--chat-history-file",
            "/dev/null",
            "--input-history-file=/dev/null",
        ];
        let mut s = spec(Format::Aider, &ask, Some(&ask));
        separate_histories(&mut s, "x");
        assert_eq!(s.args, ask);
        assert_eq!(s.resume_args.as_deref().unwrap(), ask);

        let mut s = spec(Format::Aider, &[], None);
        s.env
            .push(("AIDER_CHAT_HISTORY_FILE".into(), "/tmp/h.md".into()));
        s.leaves.clear();
        separate_histories(&mut s, "x");
        assert_eq!(s.args, ["--input-history-file", ".aider.x.input.history"]);
        assert_eq!(s.leaves, [".aider.x.input.history"]);
    }

    #[test]
    fn other_clis_are_untouched() {
        for format in [Format::Claude, Format::Gemini, Format::Text] {
            let mut s = spec(format, &["-p", "{prompt}"], None);
            separate_histories(&mut s, "x");
            assert_eq!(s.args, ["-p", "{prompt}"]);
        }
    }
}
