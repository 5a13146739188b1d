//! `git agent rm` of an SSH runner's session: the remote session (its record and worktree
//! over there) goes too, once nothing of what it made would be lost.
//!
//! Invariants:
//! - the remote session is removed only if its branch's tip is already on the branch here
//!   (fetched), its worktree holds nothing uncommitted, and its agent no longer runs; else
//!   `rm` is refused, saying how to bring the work here, unless the user typed `--force`;
//! - its branch over there is deleted only with the user's `--delete-branch`;
//! - a host that cannot be reached (within a short `ConnectTimeout`) never keeps the session
//!   here from going: nothing over there is touched, and what is left there is said.

use std::time::Duration;

use anyhow::Result;

use super::SshRunner;
use crate::error::{Failure, code};

/// How long `rm` waits for the host to answer: the user asked to remove the session here.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What `git agent rm --dry-run --json` says over there of the remote session.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Inspection {
    alive: bool,
    worktree: String,
    uncommitted: Vec<String>,
    operation: Option<String>,
    head_elsewhere: Option<String>,
    submodule_work: Vec<String>,
    branch: String,
    branch_tip: Option<String>,
}

impl SshRunner {
    /// Removes the remote session (see the module's documentation): `Ok(Some(words))` says
    /// what was left over there and why; an error refuses the removal.
    pub(super) fn remove_remote(&self, force: bool, delete_branch: bool) -> Result<Option<String>> {
        let Some(remote) = self.remote_name() else {
            // Never started over there: nothing of it is there (but the ref its base was
            // pushed to, which holds nothing that is not here).
            return Ok(None);
        };
        let host = &self.record.host;
        let at = self.remote.impatient(CONNECT_TIMEOUT);
        let q = shell_words::quote(&remote);
        let left = |why: String| {
            Some(format!(
                "{why}: its session '{remote}' is left on {host} (remove it there: \
                 {} && git agent rm {q})",
                super::remote::cd(&self.record.path)
            ))
        };
        let Some((status, out, err)) = at.try_run(&format!("git agent rm --dry-run --json {q}"))?
        else {
            return Ok(left(format!("could not reach {host}")));
        };
        if err.contains(&format!("no session named '{remote}'")) {
            return Ok(None); // removed over there already
        }
        let value: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
        let Some(found) = value["results"][0]
            .get("inspection")
            .and_then(|i| serde_json::from_value::<Inspection>(i.clone()).ok())
        else {
            let said = first_line(&err, "no answer");
            return Ok(left(format!(
                "'git agent rm' on {host} failed (exit {status}: {said})"
            )));
        };
        if !force && let Some(failure) = self.refusal(&remote, &found)? {
            return Err(failure.into());
        }
        // Its work is here (or the user gave it up): the remote refusal of a branch merged
        // nowhere over there does not hold.
        let delete = if delete_branch {
            " --delete-branch"
        } else {
            ""
        };
        let base = format!("refs/agent-base/{}", self.session.name);
        let base = shell_words::quote(&base);
        let script = format!(
            "git agent rm --force{delete} {q} >&2 && {{ git update-ref -d {base} 2>/dev/null; true; }}"
        );
        Ok(match at.try_run(&script)? {
            None => left(format!("lost the connection to {host}")),
            Some((0, _, _)) => None,
            Some((status, _, err)) => {
                let said = first_line(&err, "");
                left(format!(
                    "'git agent rm' on {host} failed (exit {status}: {said})"
                ))
            }
        })
    }

    /// Why the remote session may not go without `--force`, if it may not.
    fn refusal(&self, remote: &str, found: &Inspection) -> Result<Option<Failure>> {
        let (name, host) = (&self.session.name, &self.record.host);
        let force = format!("to drop it anyway: git agent rm --force {name}");
        if found.alive {
            return Ok(Some(
                Failure::fatal(format!(
                    "'{name}': its agent still runs on {host} (session '{remote}' there)"
                ))
                .code(code::NEGATIVE)
                .hint(format!(
                    "follow it to its end and bring its work here: git agent resume {name}"
                ))
                .hint(force),
            ));
        }
        let mut lost: Vec<String> = Vec::new();
        if let Some(op) = &found.operation {
            lost.push(format!("{op} in {}", found.worktree));
        }
        if let Some(h) = &found.head_elsewhere {
            lost.push(format!("{h} in {}", found.worktree));
        }
        lost.extend(
            found
                .uncommitted
                .iter()
                .chain(&found.submodule_work)
                .take(20)
                .map(|l| format!("uncommitted in {}: {l}", found.worktree)),
        );
        if let Some(tip) = &found.branch_tip
            && !self.is_here(tip)?
        {
            lost.push(format!(
                "commits on {} up to {} that are not on {} here",
                found.branch,
                crate::session::short_id(tip),
                self.session.branch
            ));
        }
        if lost.is_empty() {
            return Ok(None);
        }
        let mut failure = Failure::fatal(format!(
            "'{name}': its session '{remote}' on {host} holds work that is not here:\n{}",
            lost.join("\n")
        ))
        .code(code::NEGATIVE);
        if found.uncommitted.len() + found.submodule_work.len() > 0 || found.operation.is_some() {
            failure = failure.hint(format!(
                "commit what is in {} over there first",
                found.worktree
            ));
        }
        Ok(Some(
            failure
                .hint(format!(
                    "bring its commits here: git -C {} pull --ff-only {} {}",
                    self.session.worktree.display(),
                    self.remote.url(),
                    found.branch
                ))
                .hint(force),
        ))
    }

    /// Whether commit `tip` is on the session's branch here.
    fn is_here(&self, tip: &str) -> Result<bool> {
        // What the remote machine says is a commit id, or nothing here is it.
        if tip.is_empty() || !tip.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(false);
        }
        let repo = self.repo()?;
        let out = repo
            .git()
            .args([
                "merge-base",
                "--is-ancestor",
                tip,
                &format!("refs/heads/{}", self.session.branch),
            ])
            .output()?;
        Ok(out.status.success())
    }
}

/// The first line of what a command said on stderr (its `fatal:`), or `otherwise`.
fn first_line(err: &str, otherwise: &str) -> String {
    err.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(otherwise)
        .to_owned()
}
