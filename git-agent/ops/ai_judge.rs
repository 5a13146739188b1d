//! `git agent review --group G --ai-judge`: another agent ranks the variants of a task, best
//! first, with a one-line reason each, from their diffs, verify results and reports. It is
//! asked as [`crate::ops::ask`] asks (its mode that cannot edit, nothing of the repository
//! writable) and only answers: the judge never merges, removes or sends anything; the user
//! picks the winner.
//!
//! Owns the judge's prompt ([`prompt`]), reading its ranking out of the answer ([`ranking`])
//! and recording its run ([`record`]): once, in the group's first variant (the lowest index),
//! so its cost counts once, and toward that variant's budget
//! ([`crate::ops::ai_review::refuse_spent`]). Prints
//! nothing.

use anyhow::Result;
use serde::Serialize;

use crate::session::ReviewRun;
use crate::state::StateDir;

/// What the judge is shown of one variant.
pub struct Variant {
    pub name: String,
    pub agent: String,
    /// `done`, `failed`…
    pub state: String,
    /// `passed`, `failed`, `stale`, or none.
    pub verify: Option<String>,
    /// The end of a failed verify's output.
    pub verify_tail: Vec<String>,
    /// Its own task, when it differs from the group's (a fork's steer).
    pub task: Option<String>,
    /// What its agent said it did.
    pub report: Option<String>,
    /// Its whole result against the merge-base, as a patch.
    pub diff: String,
}

/// The most of one variant's patch the judge gets: enough to judge a change, not a context
/// window's worth of generated files.
const DIFF_CAP: usize = 60_000;

/// The judge's place in a ranking: a variant, its place (1 is best) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ranked {
    pub name: String,
    pub rank: usize,
    pub reason: String,
}

/// The judge's prompt: the task, then each variant.
pub fn prompt(task: &str, variants: &[Variant]) -> String {
    let mut out = format!(
        "You are judging {} attempts (variants) at the same coding task, each made by an agent \
         on its own branch. Do not change any file: read what follows, then rank them.\n\n\
         The task:\n\n{task}\n",
        variants.len()
    );
    for v in variants {
        out.push_str(&format!(
            "\n=== Variant {} (agent {}, {}) ===\n",
            v.name, v.agent, v.state
        ));
        if let Some(task) = &v.task {
            out.push_str(&format!("Its own task (beyond the one above):\n{task}\n"));
        }
        match v.verify.as_deref() {
            Some(result) => out.push_str(&format!("Verify (the project's checks): {result}\n")),
            None => out.push_str("Verify: not run\n"),
        }
        for line in &v.verify_tail {
            out.push_str(&format!("  {line}\n"));
        }
        if let Some(report) = &v.report {
            out.push_str(&format!("What its agent reported:\n{report}\n"));
        }
        let diff = if v.diff.len() > DIFF_CAP {
            let cut = (0..=DIFF_CAP)
                .rev()
                .find(|&i| v.diff.is_char_boundary(i))
                .unwrap_or(0);
            format!(
                "{}\n[… the rest of this diff ({} more bytes) is left out]\n",
                &v.diff[..cut],
                v.diff.len() - cut
            )
        } else {
            v.diff.clone()
        };
        if diff.trim().is_empty() {
            out.push_str("Its diff: (no changes)\n");
        } else {
            out.push_str(&format!("Its diff against the base:\n```diff\n{diff}```\n"));
        }
    }
    let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
    out.push_str(&format!(
        "\nRank all {} variants, best first: which one should be merged? Weigh correctness and \
         completeness for the task first, then the project's checks, then clarity and size of \
         the change. Answer with exactly one line per variant and nothing else, in this form:\n\
         1. NAME: one-line reason\n\
         2. NAME: one-line reason\n\
         where NAME is one of: {}.\n",
        names.len(),
        names.join(", ")
    ));
    out
}

/// The ranking in the judge's answer: lines `N. NAME: reason` (also `N) NAME - reason`,
/// `**NAME**`, `` `NAME` ``), each variant once, in the order given; lines naming no variant
/// are skipped. Empty when nothing could be read.
pub fn ranking(answer: &str, names: &[String]) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = Vec::new();
    for line in answer.lines() {
        let line = line.trim().trim_start_matches(['-', '*', ' ']);
        let Some(rest) = numbered(line) else {
            continue;
        };
        let rest = rest.trim_start();
        // The longest name that starts the rest: `fix-1` must not win over `fix-10`.
        let Some(name) = names
            .iter()
            .filter(|n| starts_with_name(rest, n))
            .max_by_key(|n| n.len())
        else {
            continue;
        };
        if ranked.iter().any(|r| &r.name == name) {
            continue;
        }
        let after = strip_name(rest, name);
        let reason = after
            .trim_start_matches(['*', '`', ' '])
            .trim_start_matches([':', '-', '—', '–', ' '])
            .trim()
            .to_owned();
        ranked.push(Ranked {
            name: name.clone(),
            rank: ranked.len() + 1,
            reason,
        });
    }
    ranked
}

/// `3. rest` or `3) rest`: the rest.
fn numbered(line: &str) -> Option<&str> {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    line[digits..]
        .strip_prefix('.')
        .or_else(|| line[digits..].strip_prefix(')'))
}

/// The name, maybe in `**` or backticks, followed by the end or a non-name character.
fn starts_with_name(rest: &str, name: &str) -> bool {
    let bare = rest.trim_start_matches(['*', '`']);
    bare.strip_prefix(name).is_some_and(|after| {
        after
            .chars()
            .next()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            || after.starts_with(". ")
            || after == "."
    })
}

fn strip_name<'a>(rest: &'a str, name: &str) -> &'a str {
    let bare = rest.trim_start_matches(['*', '`']);
    bare.strip_prefix(name).unwrap_or(bare)
}

/// Records the judge's run in the session `first` (the group's first variant).
pub fn record(state: &StateDir, first: &str, run: ReviewRun) -> Result<()> {
    state.update(first, |s| {
        s.review_runs.push(run.clone());
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_ranking_is_read_in_its_many_spellings_each_variant_once() {
        let answer = "Here is my ranking:\n\n\
                      1. **fix-10**: handles the empty input\n\
                      2) `fix-1` - smaller, but no test\n\
                      - 3. fix-2 — fails verify\n\
                      4. fix-1: said twice\n\
                      5. nobody: not a variant\n\
                      Overall fix-10 is best.";
        let r = ranking(answer, &names(&["fix-1", "fix-2", "fix-10"]));
        assert_eq!(
            r,
            vec![
                Ranked {
                    name: "fix-10".into(),
                    rank: 1,
                    reason: "handles the empty input".into()
                },
                Ranked {
                    name: "fix-1".into(),
                    rank: 2,
                    reason: "smaller, but no test".into()
                },
                Ranked {
                    name: "fix-2".into(),
                    rank: 3,
                    reason: "fails verify".into()
                },
            ]
        );
        assert!(ranking("They all look fine.", &names(&["a", "b"])).is_empty());
        // A name that merely starts like another is not it.
        assert!(ranking("1. fix-1x: no", &names(&["fix-1"])).is_empty());
    }

    #[test]
    fn the_prompt_holds_every_variant_and_caps_a_huge_diff() {
        let v = |name: &str, diff: String| Variant {
            name: name.into(),
            agent: "claude".into(),
            state: "done".into(),
            verify: Some("failed".into()),
            verify_tail: vec!["test x ... FAILED".into()],
            task: None,
            report: Some("Did it.".into()),
            diff,
        };
        let p = prompt(
            "speed up the parser",
            &[v("a", "+fast\n".into()), v("b", "é".repeat(DIFF_CAP))],
        );
        assert!(p.contains("speed up the parser"));
        assert!(p.contains("=== Variant a (agent claude, done) ==="));
        assert!(p.contains("test x ... FAILED") && p.contains("Did it."));
        assert!(p.contains("is left out]"));
        assert!(p.contains("where NAME is one of: a, b."));
        assert!(p.len() < 3 * DIFF_CAP);
    }
}
