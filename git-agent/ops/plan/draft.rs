//! `git agent plan draft`: the planner step. An agent reads the repository and answers a goal
//! with a plan file; the caller writes it, checks it as `plan check` does, and shows it.
//! Nothing here starts a plan: only the user's `plan run` does.
//!
//! Where it runs: in the foreground, in the user's current worktree, and not as a session.
//! The planner must see the checkout the user is looking at (a session's worktree would be a
//! copy of a commit, without the user's uncommitted state), the user waits for its answer
//! anyway, and a session would leave a branch, a worktree and a record behind for an answer
//! that is one file. Since it runs in the user's checkout it must not be able to change it:
//! it is asked as [`crate::ops::ask`] asks, in its mode that cannot edit and with nothing of
//! the repository writable.
//!
//! Owns the planner's prompt ([`FORMAT`], [`prompt`]), choosing the planner, and finding the
//! plan in its answer ([`plan_of`], [`extract`]). It prints nothing: the plan file is written
//! by [`write_new`].

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::agents::Profiles;
use crate::error::Failure;
use crate::git::repo::Config;
use crate::ops::ask;
pub use crate::ops::ask::{Answer, Asker, Started, start};

/// The plan format, as the planner is told it.
pub const FORMAT: &str = r#"A plan is a TOML file:

name = "short-name"        # required: letters, digits, '.', '_', '-'; its branch is plan/<name>
base = "main"              # optional: the branch or commit to start from (default: the current branch)
max_parallel = 3           # optional: at most this many tasks at once
validate = "cargo test"    # optional: a command run once every task has landed
land = "manual"            # optional: "manual" (default) or "auto"

[[task]]                   # one table per task
id = "skeleton"            # required, unique
prompt = """…"""           # required: everything the task's agent needs to know, self-contained
agent = "claude"           # optional: a profile, or a list of profiles (default: the user's default)
depends_on = ["other-id"]  # optional: starts once these tasks have landed
touches = ["src/search/mod.rs", "src/search/index/**"]  # the paths it owns (git globs, relative to the repository root)
verify = "cargo test search::index"  # optional: a command that must pass before the task lands
budget = "$2"              # optional: spend limit
timeout = "30m"            # optional: time limit
retries = 1                # optional: tries again after a failure
variants = 1               # optional: that many agents try it, the best one lands

A dependent task's prompt may contain {{ deps }}: it becomes the final reports of the tasks it
depends on (or {{ task.<id>.result }} for one of them), so it does not need their whole context.
No other keys are allowed.

Tasks whose `touches` overlap never run at the same time, and tasks without dependencies on
each other run in parallel: give each parallel slice its own disjoint paths (a shared module or
types first, as a task the others depend on; documentation or integration last)."#;

/// The planner's prompt for `goal`.
pub fn prompt(goal: &str) -> String {
    format!(
        "You are planning work for a team of coding agents that will each work in their own \
         git worktree. Do not change any file: read the repository, then answer with a plan.\n\n\
         The goal:\n\n{goal}\n\n\
         Split the goal into tasks that can each be done and tested by one agent, as parallel \
         as the code allows. {FORMAT}\n\n\
         Answer with exactly one ```toml fenced block holding the whole plan, in your final \
         message (not in a tool call, not in a file), and nothing after it.\n"
    )
}

/// The planner: `agent` (else `agent.default`, else the first installed built-in) in
/// `mode`, or else in its read-only mode ([`ask::choose`]: a profile without one is refused
/// unless the user names a mode).
pub fn choose(config: &Config, agent: Option<&str>, mode: Option<&str>) -> Result<Asker> {
    let profiles = Profiles::load(config)?;
    let name = match agent {
        Some(name) => name.to_owned(),
        None => profiles.default_profile(None)?.name,
    };
    ask::choose(
        &profiles,
        &name,
        mode,
        "plan draft",
        "git agent plan draft GOAL",
    )
}

/// The plan in what the planner said, most likely first: in its final result; in one thing
/// it said (the last first: a fenced block only, a line of a plain answer is not a plan); in
/// all it said; in its raw output (a plain command's answer).
pub fn plan_of(answer: &Answer) -> Option<String> {
    let whole = answer.texts.join("\n");
    answer
        .result
        .as_deref()
        .and_then(extract)
        .or_else(|| answer.texts.iter().rev().find_map(|t| fenced(t)))
        .or_else(|| extract(&whole))
        .or_else(|| extract(&answer.raw))
}

/// The plan in an answer: its first ```toml fenced block, else the whole text if it reads
/// as a plan file.
pub fn extract(text: &str) -> Option<String> {
    fenced(text).or_else(|| {
        let whole = text.trim();
        let looks_like_plan = toml::from_str::<super::PlanFile>(whole)
            .is_ok_and(|p| p.name.is_some() || !p.tasks.is_empty());
        looks_like_plan.then(|| format!("{whole}\n"))
    })
}

/// The first ```toml fenced block of a text (to its end if the block is not closed).
fn fenced(text: &str) -> Option<String> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let fence = line.trim_start();
        if fence
            .strip_prefix("```")
            .is_some_and(|lang| lang.trim().eq_ignore_ascii_case("toml"))
        {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            let body = body.join("\n");
            return (!body.trim().is_empty()).then(|| format!("{}\n", body.trim_end()));
        }
    }
    None
}

/// The name a drafted plan gives itself, if it is a usable name; else one made from the goal.
pub fn name_of(plan: &str, goal: &str) -> String {
    toml::from_str::<toml::Table>(plan)
        .ok()
        .and_then(|t| t.get("name").and_then(|n| n.as_str()).map(str::to_owned))
        .filter(|n| crate::names::check(n).is_ok())
        .unwrap_or_else(|| crate::names::slugify(goal))
}

/// Where a drafted plan goes unless told: `plans/<name>.toml` at the worktree's root, or
/// `plans/<name>-2.toml`… when that file exists (an answer the user paid for is never
/// thrown away, nor written over).
pub fn default_file(workdir: &Path, name: &str) -> PathBuf {
    let dir = workdir.join("plans");
    let first = dir.join(format!("{name}.toml"));
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{name}-{n}.toml")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Writes a new plan file (its folder made if needed); an existing one only with `force`.
pub fn write_new(path: &Path, text: &str, force: bool) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new();
    file.write(true);
    if force {
        file.create(true).truncate(true);
    } else {
        file.create_new(true);
    }
    let mut file = file.open(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::Error::from(
                Failure::fatal(format!("{} already exists", path.display()))
                    .hint("write over it with --force, or choose another file with -o FILE"),
            )
        } else {
            anyhow::anyhow!("could not write {}: {err}", path.display())
        }
    })?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("could not write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_toml_block_is_the_plan() {
        let answer = "Here it is:\n\n```toml\nname = \"x\"\n\n[[task]]\nid = \"a\"\n```\n\n```toml\nname = \"y\"\n```\n";
        assert_eq!(
            extract(answer).unwrap(),
            "name = \"x\"\n\n[[task]]\nid = \"a\"\n"
        );
        assert_eq!(
            extract("```TOML\nname = \"cut\"\n[[task]]").unwrap(),
            "name = \"cut\"\n[[task]]\n"
        );
        assert_eq!(
            extract("name = \"bare\"\n[[task]]\nid = \"a\"\nprompt = \"p\"").unwrap(),
            "name = \"bare\"\n[[task]]\nid = \"a\"\nprompt = \"p\"\n"
        );
        assert_eq!(extract("I could not make a plan."), None);
        assert_eq!(extract("```toml\n```"), None);
        assert_eq!(extract("```rust\nfn main() {}\n```"), None);
    }

    #[test]
    fn a_plan_is_named_by_itself_or_by_its_goal() {
        assert_eq!(name_of("name = \"search-v2\"\n", "goal"), "search-v2");
        assert_eq!(
            name_of("name = \"../escape\"\n", "Add a search page"),
            "add-search-page"
        );
        assert_eq!(name_of("not toml [", "Fix it"), "fix");
    }
}
