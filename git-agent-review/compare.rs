//! `review --group G` / `--compare A B C…`: the variants of a task side by side, the
//! best-looking first.
//!
//! Ranking rule, in order: a passing verify beats no verify (or a stale one) beats a failing one; then a run
//! that ended `done` beats one still going beats one that failed or was stopped; then the
//! cheaper run; then the name. Size is shown but not ranked: a smaller change is not a better
//! one by itself.

use anyhow::Result;
use git_agent::agents::output::format_cost;
use git_agent::git::repo::Repo;
use git_agent::session::{Session, State};
use git_agent::ui;
use serde::Serialize;

use crate::diff;

/// One variant, measured.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    pub state: State,
    pub agent: String,
    pub files: usize,
    pub insertions: u64,
    pub deletions: u64,
    /// `passed`, `failed`, or absent when never verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ran_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn verify_rank(v: Option<&str>) -> u8 {
    match v {
        Some("passed") => 0,
        // A result verified before the branch last changed says nothing about it now.
        None | Some("stale") => 1,
        _ => 2,
    }
}

fn state_rank(s: State) -> u8 {
    match s {
        State::Done | State::Merged => 0,
        State::Waiting => 1,
        State::Running | State::Setup | State::Starting | State::Queued | State::RateLimited => 2,
        State::Stopped | State::Lost | State::OverBudget => 3,
        State::Failed | State::SetupFailed => 4,
    }
}

/// Measures each session and sorts them best-looking first.
pub fn entries(repo: &Repo, sessions: &[Session]) -> Result<Vec<Entry>> {
    let now = git_agent::time::now();
    let mut entries = Vec::new();
    for s in sessions {
        let result = diff::result(repo, s)?;
        let files = diff::files(repo, &result.merge_base, &result.tree, &[])?;
        entries.push(Entry {
            name: s.name.clone(),
            state: s.live_state(),
            agent: s.short_agent(),
            files: files.len(),
            insertions: files.iter().map(|f| f.insertions).sum(),
            deletions: files.iter().map(|f| f.deletions).sum(),
            verify: s.verify.as_ref().map(|v| {
                let tip = repo
                    .branch_tip(&s.branch)
                    .ok()
                    .flatten()
                    .map(|t| t.to_string());
                if v.is_stale(s, tip.as_deref()) {
                    "stale".into()
                } else if v.passed {
                    "passed".into()
                } else {
                    "failed".into()
                }
            }),
            ran_secs: s.run_time(now).map(|d| d.as_secs()),
            // What the variant cost to make, not what reviewing it cost.
            cost_usd: s.agent_usage().cost_usd,
            notes: result.notes,
        });
    }
    entries.sort_by(|a, b| {
        (verify_rank(a.verify.as_deref()), state_rank(a.state))
            .cmp(&(verify_rank(b.verify.as_deref()), state_rank(b.state)))
            .then_with(|| {
                a.cost_usd
                    .unwrap_or(f64::MAX)
                    .partial_cmp(&b.cost_usd.unwrap_or(f64::MAX))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(entries)
}

/// The table for people; with a judge's verdict, its place for each in a `JUDGE` column
/// beside the rule-based order (`#`).
pub fn table(entries: &[Entry], judged: Option<&crate::judge::Judged>) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let verify = match e.verify.as_deref() {
                Some(plain @ ("passed" | "stale")) => plain.to_owned(),
                Some(other) => ui::state_style(State::Failed).apply_to(other).to_string(),
                None => "-".to_owned(),
            };
            let mut row = vec![(i + 1).to_string()];
            if let Some(j) = judged {
                row.push(
                    j.rank_of(&e.name)
                        .map_or_else(|| "-".into(), |r| r.to_string()),
                );
            }
            row.extend([
                e.name.clone(),
                ui::state(e.state),
                e.agent.clone(),
                e.files.to_string(),
                format!("+{}", e.insertions),
                format!("-{}", e.deletions),
                verify,
                e.ran_secs.map_or_else(
                    || "-".into(),
                    |s| git_agent::time::format_duration(std::time::Duration::from_secs(s)),
                ),
                e.cost_usd.map_or_else(|| "-".into(), format_cost),
            ]);
            row
        })
        .collect();
    let mut headers = vec!["#"];
    if judged.is_some() {
        headers.push("JUDGE");
    }
    headers.extend([
        "NAME", "STATE", "AGENT", "FILES", "ADDED", "REMOVED", "VERIFY", "RAN", "COST",
    ]);
    ui::table(&headers, &rows)
}
