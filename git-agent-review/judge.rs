//! `review --group G --ai-judge` (or `--compare A B… --ai-judge`): another agent ranks the
//! variants with a reason each ([`git_agent::ops::ai_judge`]), shown next to the rule-based
//! order of the comparison table and offered first in the pick-the-winner menu. The judge
//! answers and nothing else: merging stays the user's choice.

use anyhow::Result;
use git_agent::commands::Ctx;
use git_agent::error::Failure;
use git_agent::git::repo::Repo;
use git_agent::ops::ai_judge::{self, Ranked, Variant};
use git_agent::ops::ask;
use git_agent::session::{ReviewRun, Session};
use serde::Serialize;

use crate::compare::Entry;
use crate::diff;

/// The judge's verdict: who judged, in which mode, and the ranking.
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    pub reviewer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub ranking: Vec<Ranked>,
}

impl Judged {
    /// The judge's place for a variant (1 is best), if it ranked it.
    pub fn rank_of(&self, name: &str) -> Option<usize> {
        self.ranking.iter().find(|r| r.name == name).map(|r| r.rank)
    }
}

/// Asks the judge about `sessions` (measured as `entries`), records its run in the first
/// session (the group's lowest index) and returns its ranking. A judge that fails or answers
/// nothing readable is an error, recorded as a failed run.
pub fn judge(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    sessions: &[Session],
    entries: &[Entry],
    agent: Option<&str>,
) -> Result<Judged> {
    git_agent::ops::ai_review::refuse_spent(&sessions[0], "a judge")?;
    let config = repo.config();
    let wrote: Vec<&str> = sessions.iter().map(|s| s.agent.profile.as_str()).collect();
    let asker = git_agent::ops::ai_review::choose_for(
        &config,
        agent,
        &wrote,
        "review --ai-judge",
        "git agent review --group G --ai-judge",
    )?;
    let task = sessions[0].prompt.clone();
    let mut variants = Vec::new();
    for s in sessions {
        let r = diff::result(repo, s)?;
        let entry = entries.iter().find(|e| e.name == s.name);
        variants.push(Variant {
            name: s.name.clone(),
            agent: s.short_agent(),
            state: entry.map_or_else(|| s.live_state().to_string(), |e| e.state.to_string()),
            verify: entry.and_then(|e| e.verify.clone()),
            verify_tail: s
                .verify
                .as_ref()
                .filter(|v| !v.passed)
                .map(|v| v.tail.iter().rev().take(10).rev().cloned().collect())
                .unwrap_or_default(),
            task: (s.prompt != task).then(|| s.prompt.clone()),
            report: s.summary(),
            diff: diff::patch(repo, &r.merge_base, &r.tree, None, &[])?,
        });
    }
    let workdir = repo
        .workdir()
        .or(repo.main_workdir())
        .ok_or_else(|| Failure::fatal("--ai-judge needs a worktree to run the judge in"))?
        .to_owned();
    let name = asker.profile.name.clone();
    let mode = asker.profile.permission_mode.clone();
    let started_at = git_agent::time::now();
    let started = ask::start(
        &config,
        &workdir,
        &asker,
        &ai_judge::prompt(&task, &variants),
    )?;
    writeln!(
        ctx.err,
        "Asking {name} ({}) to judge {} variants; it reads and changes nothing (sandbox: {}).",
        mode.as_deref().unwrap_or("its mode"),
        variants.len(),
        started.sandbox
    )?;
    let answer = ctx.ask(started, &name)?;
    let names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
    let said = answer
        .result
        .clone()
        .or_else(|| answer.texts.last().cloned());
    let ranking = said
        .as_deref()
        .map(|text| ai_judge::ranking(text, &names))
        .filter(|r| !r.is_empty())
        .or_else(|| {
            // An answer split over several messages: read them all.
            Some(ai_judge::ranking(&answer.texts.join("\n"), &names)).filter(|r| !r.is_empty())
        });
    let failure = answer.failure().or_else(|| {
        ranking
            .is_none()
            .then(|| "it answered no ranking of the variants".to_owned())
    });
    let run = ReviewRun {
        kind: "judge".into(),
        reviewer: name.clone(),
        mode: mode.clone(),
        started_at,
        ended_at: git_agent::time::now(),
        ok: failure.is_none(),
        reason: failure.clone(),
        outcome: answer.outcome.clone(),
        findings: None,
        round: None,
    };
    ai_judge::record(&repo.state(), &sessions[0].name, run)?;
    if let Some(why) = failure {
        if let Some(text) = answer.said() {
            writeln!(ctx.err, "{name} answered:")?;
            for line in text.lines().take(20) {
                writeln!(ctx.err, "  {line}")?;
            }
        }
        return Err(Failure::fatal(format!("the judge ({name}) failed: {why}"))
            .hint("compare them yourself (the table above), or ask another: --agent PROFILE")
            .into());
    }
    Ok(Judged {
        reviewer: name,
        mode,
        ranking: ranking.unwrap_or_default(),
    })
}

/// The judge's ranking for people, under the table.
pub fn explain(judged: &Judged) -> String {
    let mode = judged
        .mode
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let mut out = format!("The judge, {}{mode}, ranks them:\n", judged.reviewer);
    for r in &judged.ranking {
        out.push_str(&format!("  {}. {}: {}\n", r.rank, r.name, r.reason));
    }
    out
}
