//! The `git agent` commands a plan runs for its tasks: `new`, `merge`, `sync`, `send`,
//! `resume`. A plan goes through the same commands a user would type, so every rule they keep
//! (trust, the queue, budgets, the merge pipeline's refusals) holds for a plan too.
//!
//! Each call runs our own executable in the repository's main worktree, with the repository
//! variables of whoever advances the plan removed, and returns what it printed. What ran and
//! what it said go to the plan's log. Never prints.

use std::path::Path;

use anyhow::Result;

use crate::process::Cmd;
use crate::state::StateDir;

/// What one call gave back.
#[derive(Debug)]
pub struct Called {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Called {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// The gist of its error output: the `fatal:`/`error:` lines, each with what is listed
    /// under it when it ends in `:` (the conflicting paths, the commits a removal would
    /// lose), else the last line.
    pub fn why(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        let mut listing = false;
        for l in self.stderr.lines() {
            if let Some(msg) = l
                .strip_prefix("fatal: ")
                .or_else(|| l.strip_prefix("error: "))
            {
                listing = msg.ends_with(':');
                // "stopped at a conflict in:" + paths reads "stopped at a conflict: paths".
                lines.push(match msg.strip_suffix(" in:") {
                    Some(head) => format!("{head}:"),
                    None => msg.to_owned(),
                });
            } else if listing && l.starts_with(char::is_whitespace) && !l.trim().is_empty() {
                if let Some(last) = lines.last_mut() {
                    last.push_str(if last.ends_with(':') { " " } else { ", " });
                    last.push_str(l.trim());
                }
            } else {
                listing = false;
            }
        }
        if lines.is_empty() {
            return self
                .stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("it failed without saying why")
                .trim()
                .to_owned();
        }
        lines.join("; ")
    }

    /// Its stdout as JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.stdout).ok()
    }

    /// The one step of `git agent merge NAME --json` (`{result, commit, why, paths, hints…}`;
    /// `Null` if it printed none: it failed before it could say).
    pub fn merge_step(&self) -> serde_json::Value {
        self.json()
            .and_then(|doc| doc["steps"].get(0).cloned())
            .unwrap_or_default()
    }
}

/// Runs `git agent ARGS…` for plan `plan` in `repo_dir`, with `config` as `git -c` settings.
pub fn git_agent(
    state: &StateDir,
    plan: &str,
    repo_dir: &Path,
    args: &[&str],
    config: &[(&str, &str)],
) -> Result<Called> {
    let mut cmd = Cmd::new(crate::process::git_agent_exe()?)
        .args(args)
        .current_dir(repo_dir);
    for var in crate::process::REPO_ENV
        .iter()
        .chain(crate::process::INVOCATION_ENV)
    {
        cmd = cmd.env_remove(var);
    }
    // A plan advanced from a supervisor carries no run's tag: what it starts is not an agent's.
    cmd = cmd
        .env_remove(crate::procs::TOKEN_VAR)
        .env("GIT_TERMINAL_PROMPT", "0");
    if !config.is_empty() {
        cmd = cmd.env("GIT_CONFIG_PARAMETERS", config_parameters(config));
    }
    state.plan_log(plan, &format!("$ git agent {}", args.join(" ")));
    let out = cmd.output()?;
    let called = Called {
        code: out.status.code().unwrap_or(128),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for line in called.stderr.lines() {
        state.plan_log(plan, &format!("  {line}"));
    }
    state.plan_log(plan, &format!("  (exit {})", called.code));
    Ok(called)
}

/// `GIT_CONFIG_PARAMETERS` as git writes it for `git -c k=v`: each `'key'='value'`, quoted
/// for the shell-like parser git uses.
fn config_parameters(config: &[(&str, &str)]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    config
        .iter()
        .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn called(stderr: &str) -> Called {
        Called {
            code: 1,
            stdout: String::new(),
            stderr: stderr.to_owned(),
        }
    }

    #[test]
    fn why_names_the_paths_listed_under_an_error() {
        let c = called(
            "error: s: conflict markers are still in in:\n    README.md\n    a b.txt\nhint: resolve them\n",
        );
        assert_eq!(
            c.why(),
            "s: conflict markers are still in: README.md, a b.txt"
        );
        let c = called(
            "error: 'x' holds work that would be lost:\n  commits on plan/p that are not merged anywhere:\n    abc1234 One\n    def5678 Two\nhint: merge it first\n",
        );
        assert_eq!(
            c.why(),
            "'x' holds work that would be lost: commits on plan/p that are not merged anywhere: abc1234 One, def5678 Two"
        );
        let c = called("fatal: no sync\nerror: other\n");
        assert_eq!(c.why(), "no sync; other");
        assert_eq!(called("\nlast words\n\n").why(), "last words");
    }

    #[test]
    fn config_parameters_quote_like_git() {
        assert_eq!(
            config_parameters(&[("agent.verify", "echo 'ok' && true")]),
            r#"'agent.verify'='echo '\''ok'\'' && true'"#
        );
    }
}
