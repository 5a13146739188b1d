//! A dependent task's prompt, filled in with what its dependencies reported: `{{ deps }}`
//! becomes one section per dependency (its id, its landed commit and its agent's final
//! summary), `{{ task.ID.result }}` the summary of task ID alone. So no agent needs another's
//! whole context, only what it said it did.
//!
//! Pure text: reads the plan record only.

use crate::state::StateDir;
use crate::state::plans::{PlanRecord, TaskRecord};

/// What a task reported, or a note that it reported nothing.
fn result_of(plan: &PlanRecord, id: &str) -> String {
    plan.task(id)
        .and_then(|t| t.result.clone())
        .unwrap_or_else(|| format!("(task '{id}' reported no summary)"))
}

/// The `{{ deps }}` text: one section per dependency, in the order they are listed.
fn deps_text(plan: &PlanRecord, task: &TaskRecord) -> String {
    task.depends_on
        .iter()
        .map(|id| {
            let landed = plan
                .task(id)
                .and_then(|t| t.landed.as_deref())
                .map(|c| format!(" (landed as {})", crate::session::short_id(c)))
                .unwrap_or_default();
            format!("## Task '{id}'{landed}\n\n{}\n", result_of(plan, id))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The prompt `task` starts with.
pub fn fill(_state: &StateDir, plan: &PlanRecord, task: &TaskRecord) -> String {
    fill_text(plan, task)
}

fn fill_text(plan: &PlanRecord, task: &TaskRecord) -> String {
    let mut out = String::new();
    let mut rest = task.prompt.as_str();
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        let inner = rest[open + 2..open + close].trim();
        out.push_str(&rest[..open]);
        match placeholder(inner) {
            Some(Placeholder::Deps) => out.push_str(deps_text(plan, task).trim_end()),
            Some(Placeholder::Result(id)) => out.push_str(result_of(plan, id).trim_end()),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

/// What a `{{ … }}` names.
#[derive(Debug, PartialEq, Eq)]
pub enum Placeholder<'a> {
    Deps,
    Result(&'a str),
}

/// `deps` or `task.ID.result`; anything else is left as written.
pub fn placeholder(inner: &str) -> Option<Placeholder<'_>> {
    if inner == "deps" {
        return Some(Placeholder::Deps);
    }
    let id = inner.strip_prefix("task.")?.strip_suffix(".result")?;
    (!id.is_empty()).then_some(Placeholder::Result(id))
}

/// Every `{{ … }}` placeholder of a prompt that names something (for `plan check`).
pub fn placeholders(prompt: &str) -> Vec<Placeholder<'_>> {
    let mut found = Vec::new();
    let mut rest = prompt;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        if let Some(p) = placeholder(rest[open + 2..open + close].trim()) {
            found.push(p);
        }
        rest = &rest[open + close + 2..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::plans::{PlanState, TaskState};

    fn task(id: &str, deps: &[&str], prompt: &str, result: Option<&str>) -> TaskRecord {
        TaskRecord {
            id: id.into(),
            line: 1,
            prompt: prompt.into(),
            agents: vec![],
            variants: 1,
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
            touches: vec![],
            verify: None,
            budget: None,
            timeout_secs: None,
            retries: 0,
            state: TaskState::Landed,
            reason: None,
            sessions: vec![],
            chosen: None,
            attempts: 0,
            sync_rounds: 0,
            started_at: None,
            ended_at: None,
            landed: Some("0123456789abcdef".into()),
            landed_at: None,
            cost_usd: None,
            run_secs: None,
            result: result.map(str::to_owned),
            overlaps: vec![],
            rejected: vec![],
        }
    }

    fn plan(tasks: Vec<TaskRecord>) -> PlanRecord {
        PlanRecord {
            version: 1,
            name: "p".into(),
            file: "plan.toml".into(),
            base: crate::session::Base {
                ref_name: None,
                commit: "0".repeat(40),
            },
            branch: "plan/p".into(),
            max_parallel: None,
            validate: None,
            land: "manual".into(),
            fix: false,
            state: PlanState::Running,
            reason: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            ended_at: None,
            repo: "/r".into(),
            tasks,
            validation: None,
            landed: None,
        }
    }

    #[test]
    fn deps_and_results_are_filled_in() {
        let p = plan(vec![
            task("a", &[], "", Some("Made the types.")),
            task("b", &[], "", None),
            task(
                "c",
                &["a", "b"],
                "Do it.\n{{ deps }}\nA said: {{task.a.result}}. {{ other }}",
                None,
            ),
        ]);
        let text = fill_text(&p, &p.tasks[2]);
        assert_eq!(
            text,
            "Do it.\n## Task 'a' (landed as 0123456)\n\nMade the types.\n\n## Task 'b' (landed as 0123456)\n\n(task 'b' reported no summary)\nA said: Made the types.. {{ other }}"
        );
    }

    #[test]
    fn placeholders_are_found() {
        assert_eq!(
            placeholders("{{deps}} {{ task.x.result }} {{ nope }} {{ task..result }}"),
            vec![Placeholder::Deps, Placeholder::Result("x")]
        );
    }
}
