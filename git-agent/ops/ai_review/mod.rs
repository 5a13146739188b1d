//! `git agent review NAME --ai`: another agent, in its read-only mode, reviews a session's
//! result; its findings become comments of the session's open review round, to be edited
//! and sent back to the implementing agent like a human's.
//!
//! Invariants:
//! - the reviewer never runs in the agent's worktree: it reads a throw-away checkout of the
//!   result ([`checkout::Checkout`], removed in every case), and reading the agent's worktree
//!   rewrites nothing of it (not even its index: see [`crate::ops::result`]);
//! - it is asked as [`crate::ops::ask`] asks: in its mode that cannot edit, sandboxed;
//! - every review run is recorded in the session's `review_runs` (a failed one too, with why),
//!   so its cost counts in budgets, `list` and `show`;
//! - the open round changes only when the reviewer succeeded and said something to add; a
//!   failure or an empty answer leaves it byte for byte as it was.
//!
//! Owns choosing the reviewer ([`choose`], general: the judge of a group uses it too), the
//! reviewer's prompt ([`prompt`]) and turning its answer into comments ([`conclude`]). It
//! prints nothing: the caller shows progress and findings.

pub mod checkout;
pub mod findings;

use std::path::PathBuf;

use anyhow::Result;
use jiff::Timestamp;

use crate::agents::{self, Profiles};
use crate::error::Failure;
use crate::git::repo::{Config, Repo};
use crate::ops::ask::{self, Answer, Asker};
use crate::ops::result;
use crate::session::{ReviewRun, Session};
use crate::state::rounds::{self, Comment, Round};

pub use checkout::Checkout;

/// The reviewer: `agent` (`--agent`), else git config `agent.reviewer`, else the first
/// installed built-in with a read-only mode that wrote none of the code (`wrote`: the
/// profiles of the sessions reviewed), else the first of `wrote`. Always in its read-only
/// mode ([`ask::choose`] refuses a profile without one); `what` and `example` word the refusal.
pub fn choose(config: &Config, agent: Option<&str>, wrote: &[&str]) -> Result<Asker> {
    choose_for(
        config,
        agent,
        wrote,
        "review --ai",
        "git agent review NAME --ai",
    )
}

/// [`choose`], for a command of another name (`review --ai-judge`).
pub fn choose_for(
    config: &Config,
    agent: Option<&str>,
    wrote: &[&str],
    what: &str,
    example: &str,
) -> Result<Asker> {
    let profiles = Profiles::load(config)?;
    let configured = config.string("agent.reviewer");
    let name = match agent.map(str::to_owned).or(configured) {
        Some(name) => name,
        None => {
            let installed = |name: &str| {
                profiles
                    .find(name, None)
                    .is_ok_and(|p| p.resolve_program().is_ok())
            };
            let other = agents::DETECT_ORDER.iter().copied().find(|name| {
                !wrote.contains(name) && agents::read_only_mode(name).is_some() && installed(name)
            });
            match other.or_else(|| wrote.first().copied()) {
                Some(name) => name.to_owned(),
                None => {
                    return Err(Failure::fatal("no reviewer found")
                        .hint(format!(
                            "looked for {} in PATH",
                            agents::DETECT_ORDER.join(", ")
                        ))
                        .hint(
                            "name one with --agent PROFILE, or 'git config agent.reviewer PROFILE'",
                        )
                        .into());
                }
            }
        }
    };
    ask::choose(&profiles, &name, None, what, example)
}

/// What the reviewer reviews: the session's result, its diff and where it is checked out.
pub struct Prepared {
    /// The reviewer's question.
    pub prompt: String,
    /// The files of the reviewed diff (a finding on another file is a general remark).
    pub files: Vec<String>,
    /// What the diff is from (the merge-base, or HEAD with `uncommitted`) and to.
    pub from: String,
    pub to: String,
    /// The diff was cut to fit the prompt.
    pub capped: bool,
    /// The reviewer's throw-away checkout of the result; dropped, it is gone.
    pub checkout: Checkout,
    pub started_at: Timestamp,
}

/// A reviewer's run is charged to `s` (`what`: "a review" or "a judge"): refused up front
/// when `s` has spent its budget. A budget holds or is refused (invariant 13), and a run in
/// the foreground is not stopped midway.
pub fn refuse_spent(s: &Session, what: &str) -> Result<()> {
    use crate::agents::output::{format_cost, format_spend};
    let Some(budget) = s.limits.budget_usd else {
        return Ok(());
    };
    let spent = s.usage();
    if spent.cost_usd.is_some_and(|usd| usd >= budget) {
        return Err(Failure::fatal(format!(
            "'{}' has spent its budget ({} of {}), and {what}'s run is charged to it",
            s.name,
            format_spend(&spent).unwrap_or_default(),
            format_cost(budget)
        ))
        .hint("review it yourself ('git agent review NAME'), or start a new session for more work")
        .into());
    }
    Ok(())
}

/// The most of the diff a prompt holds (bytes); the rest is named, and readable in the
/// reviewer's checkout.
pub const MAX_DIFF: usize = 100_000;

/// Readies a review of session `s`: its whole result against the merge-base with its base
/// branch now, or only its uncommitted part. Refuses a session with nothing to review.
pub fn prepare(repo: &Repo, s: &Session, uncommitted: bool) -> Result<Prepared> {
    refuse_spent(s, "a review")?;
    let r = result::result(repo, s)?;
    let from = if uncommitted {
        if !r.uncommitted {
            return Err(
                Failure::fatal(format!("{} has no uncommitted changes to review", s.name))
                    .hint(format!(
                        "review its whole branch instead: git agent review {} --ai",
                        s.name
                    ))
                    .into(),
            );
        }
        r.head.clone()
    } else {
        r.merge_base.clone()
    };
    let files: Vec<String> = result::files(repo, &from, &r.tree, &[])?
        .into_iter()
        .map(|f| f.path)
        .collect();
    if files.is_empty() {
        return Err(
            Failure::fatal(format!("{} has no changes to review", s.name))
                .hint(format!(
                    "its result is the same as {} (see 'git agent review {}')",
                    s.base.short_name(),
                    s.name
                ))
                .into(),
        );
    }
    let patch = result::patch(repo, &from, &r.tree, None, &[])?;
    let (diff, capped) = cap(&patch, MAX_DIFF);
    let started_at = crate::time::now();
    let checkout = Checkout::create(repo, &r.head, &r.tree)?;
    let prompt = prompt(s, &diff, capped, uncommitted);
    Ok(Prepared {
        prompt,
        files,
        from,
        to: r.tree,
        capped,
        checkout,
        started_at,
    })
}

/// The answer format, as the reviewer is told it.
pub const FORMAT: &str = "Answer with your findings, one per line, as\n\n\
PATH:LINE: TEXT\n\n\
where PATH is relative to the repository root and LINE is a line of the new version. Put \
general remarks on lines without that prefix. Nothing else: no preamble, no summary of the \
change, no code blocks. If you find nothing worth changing, answer exactly: No findings.";

/// The reviewer's prompt: the task, what its agent reported, the diff, the answer format.
pub fn prompt(s: &Session, diff: &str, capped: bool, uncommitted: bool) -> String {
    let what = if uncommitted {
        "its uncommitted changes (staged, unstaged and new files), against its last commit"
    } else {
        "its whole branch (commits and uncommitted work) against the base it started from"
    };
    let reported = s
        .summary()
        .unwrap_or_else(|| "(it reported nothing)".into());
    let cut = if capped {
        format!(
            "\n\nThe diff is long: it is cut after {MAX_DIFF} bytes, at a file's start; the \
             files after that are listed below it. Read them in the checkout."
        )
    } else {
        String::new()
    };
    format!(
        "You are reviewing the work of another coding agent. Do not change any file: read, \
         then answer with review findings. The current directory is a checkout of its result.\n\n\
         Its task:\n\n{task}\n\n\
         What it reported when it finished:\n\n{reported}\n\n\
         The diff of {what}:{cut}\n\n```diff\n{diff}\n```\n\n\
         Look for bugs, missed requirements of the task, missing tests, and unclear code. \
         {FORMAT}\n",
        task = s.prompt.trim(),
        diff = diff.trim_end(),
    )
}

/// `patch` cut to at most `max` bytes at a file's start, with the names of the files cut.
fn cap(patch: &str, max: usize) -> (String, bool) {
    if patch.len() <= max {
        return (patch.to_owned(), false);
    }
    let starts: Vec<usize> = patch
        .match_indices("diff --git ")
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || patch.as_bytes()[i - 1] == b'\n')
        .collect();
    let cut = starts
        .iter()
        .copied()
        .rfind(|&i| i > 0 && i <= max)
        .unwrap_or_else(|| {
            (0..=max)
                .rev()
                .find(|&i| patch.is_char_boundary(i))
                .unwrap_or(0)
        });
    let mut kept = patch[..cut].to_owned();
    let left: Vec<&str> = starts
        .iter()
        .filter(|&&i| i >= cut)
        .filter_map(|&i| patch[i..].lines().next())
        .collect();
    kept.push_str("\n… (cut here; files not shown:)\n");
    for header in left {
        kept.push_str(header);
        kept.push('\n');
    }
    (kept, true)
}

/// What a review added.
pub struct Reviewed {
    /// The comments added to the round (empty if the reviewer found nothing).
    pub comments: Vec<Comment>,
    /// The open round they went into, and its file; `None` if nothing was added.
    pub round: Option<(Round, PathBuf)>,
}

/// Records the run and turns the reviewer's answer into comments of the open round. A
/// failed reviewer or an empty answer is an error, the round untouched; the run is recorded
/// in every case.
pub fn conclude(
    repo: &Repo,
    s: &Session,
    asker: &Asker,
    prepared: &Prepared,
    answer: &Answer,
) -> Result<Reviewed> {
    let name = &asker.profile.name;
    let mode = asker.profile.permission_mode.clone().unwrap_or_default();
    let failure = answer.failure();
    let parsed = findings::parse(answer.said().unwrap_or(""), &prepared.files);
    let reason = failure.clone().or_else(|| {
        parsed
            .is_empty()
            .then(|| "its answer held no findings".to_owned())
    });
    let mark = rounds::reviewer_mark(name, &mode);
    let comments = if reason.is_some() {
        Vec::new()
    } else {
        comments(repo, prepared, &parsed, &mark)?
    };
    let round = if comments.is_empty() {
        None
    } else {
        Some(rounds::add(&repo.state(), &s.name, comments.clone())?)
    };
    let run = ReviewRun {
        kind: "review".into(),
        reviewer: name.clone(),
        mode: Some(mode),
        started_at: prepared.started_at,
        ended_at: crate::time::now(),
        ok: reason.is_none(),
        reason: reason.clone(),
        outcome: answer.outcome.clone(),
        findings: Some(u32::try_from(comments.len()).unwrap_or(u32::MAX)),
        round: round.as_ref().map(|(r, _)| r.n),
    };
    repo.state().update(&s.name, |s| {
        s.review_runs.push(run);
        Ok(())
    })?;
    if let Some(why) = failure {
        return Err(Failure::fatal(format!("the reviewer {name} failed: {why}"))
            .hint("nothing was added to the review round")
            .into());
    }
    if reason.is_some() {
        return Err(Failure::fatal(format!("the reviewer {name} gave no findings"))
            .hint("nothing was added to the review round; ask again, or another profile: --agent PROFILE")
            .into());
    }
    Ok(Reviewed { comments, round })
}

/// The findings as comments: each on a line of the diff with its hunk quoted, the general
/// remarks as one comment; each opened by the reviewer's `mark`.
fn comments(
    repo: &Repo,
    prepared: &Prepared,
    parsed: &findings::Parsed,
    mark: &str,
) -> Result<Vec<Comment>> {
    let mut out = Vec::new();
    for f in &parsed.findings {
        out.push(Comment {
            path: Some(f.path.clone()),
            line: Some(f.line),
            hunk: result::hunk_at(repo, &prepared.from, &prepared.to, &f.path, f.line)?,
            text: format!("{mark}\n\n{}", f.text),
        });
    }
    if !parsed.general.is_empty() {
        out.push(Comment {
            path: None,
            line: None,
            hunk: None,
            text: format!("{mark}\n\n{}", parsed.general.join("\n")),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::cap;

    #[test]
    fn a_long_diff_is_cut_at_a_file_and_says_what_is_left_out() {
        let one = format!("diff --git a/a b/a\n{}\n", "+x\n".repeat(10));
        let two = format!("diff --git a/b b/b\n{}\n", "+y\n".repeat(10));
        let patch = format!("{one}{two}");
        assert_eq!(cap(&patch, 1000), (patch.clone(), false));
        let (cut, capped) = cap(&patch, one.len() + 5);
        assert!(capped);
        assert!(cut.starts_with(&one), "{cut}");
        assert!(!cut.contains("+y"), "{cut}");
        assert!(
            cut.ends_with("files not shown:)\ndiff --git a/b b/b\n"),
            "{cut}"
        );
    }
}
