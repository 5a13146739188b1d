//! `plan check`: a parsed plan validated against the repository, nothing started. Every
//! problem found is collected (not just the first), each naming its task and line; warnings
//! (a `touches` glob that matches nothing at the base, a profile whose program is not
//! installed) do not make the plan invalid.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;

use super::graph::{self, Node, Wave};
use super::{Land, Plan, PlanFile, Problem, Task, TaskFile, line_of};
use crate::agents::Profiles;
use crate::git::repo::Repo;
use crate::session::Base;

/// What `check` found. The plan is valid when `problems` is empty; then `plan`, `base` and
/// `waves` are set.
#[derive(Debug)]
pub struct Checked {
    pub plan: Option<Plan>,
    pub base: Option<Base>,
    pub waves: Vec<Wave>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
    /// The warnings that name a profile whose program is not installed: `plan check` only
    /// warns (the plan may run elsewhere), `plan run` refuses.
    pub missing: Vec<Problem>,
}

impl Checked {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Collects problems with their line.
struct Findings<'t> {
    text: &'t str,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
    missing: Vec<Problem>,
}

impl Findings<'_> {
    fn at(&self, span: std::ops::Range<usize>) -> Option<usize> {
        Some(line_of(self.text, span.start))
    }
    fn problem(&mut self, line: Option<usize>, task: Option<&str>, message: impl Into<String>) {
        self.problems.push(Problem {
            line,
            task: task.map(str::to_owned),
            message: message.into(),
        });
    }
    fn warning(&mut self, line: Option<usize>, task: Option<&str>, message: impl Into<String>) {
        self.warnings.push(Problem {
            line,
            task: task.map(str::to_owned),
            message: message.into(),
        });
    }
}

/// Validates the plan read from `file` (its raw form and text, see [`super::read`]) against
/// `repo`.
pub fn check(repo: &Repo, file: &Path, raw: PlanFile, text: &str) -> Result<Checked> {
    let mut f = Findings {
        text,
        problems: Vec::new(),
        warnings: Vec::new(),
        missing: Vec::new(),
    };
    let (name, land, max_parallel) = settings(&mut f, &raw);
    if raw.tasks.is_empty() {
        f.problem(None, None, "the plan has no [[task]]");
    }

    // The base, and what it holds (for the `touches` globs and the repository's profiles).
    let base_spec = raw.base.as_ref().map(|b| b.get_ref().clone());
    let base = match repo.resolve_base(base_spec.as_deref()) {
        Ok(base) => Some(base),
        Err(err) => {
            let line = raw.base.as_ref().and_then(|b| f.at(b.span()));
            f.problem(line, None, format!("{err:#}"));
            None
        }
    };
    let files = match &base {
        Some(base) => files_at(repo.gix(), &base.commit)?,
        None => Vec::new(),
    };
    let config = repo.config();
    let project = match &base {
        Some(base) => crate::project::ProjectFile::at_commit(repo.gix(), &base.commit)?,
        None => None,
    };
    let profiles = Profiles::load(&config)?.with_project(project.as_ref());

    let dir = file.parent().unwrap_or(Path::new("."));
    let mut seen = HashSet::new();
    let mut tasks = Vec::new();
    for raw_task in &raw.tasks {
        if let Some(task) = check_task(&mut f, raw_task, dir, &files, &profiles, &mut seen) {
            tasks.push(task);
        }
    }
    check_names(&mut f, &name, &tasks);
    check_sizes(&mut f, max_parallel, &tasks);
    let waves = check_graph(&mut f, &raw, &tasks, &files);
    check_templates(&mut f, &tasks);
    let valid = f.problems.is_empty();
    Ok(Checked {
        plan: valid.then(|| Plan {
            path: file.to_path_buf(),
            name,
            base: base_spec,
            max_parallel,
            validate: raw.validate.clone(),
            land,
            fix: raw.fix.unwrap_or(false),
            tasks,
        }),
        base: if valid { base } else { None },
        waves,
        problems: f.problems,
        warnings: f.warnings,
        missing: f.missing,
    })
}

/// Each task's sessions are named `<plan>-<id>`: the id must make a valid session name, and
/// must not take the name of the plan's integration session.
fn check_names(f: &mut Findings<'_>, plan: &str, tasks: &[Task]) {
    for t in tasks {
        let session = format!("{plan}-{}", t.id);
        if let Err(err) = crate::names::check(&session) {
            f.problem(
                Some(t.line),
                Some(&t.id),
                format!("the id cannot name its session '{session}': {err}"),
            );
        } else if t.id == "integration" {
            f.problem(
                Some(t.line),
                Some(&t.id),
                "the id 'integration' is taken by the plan's validate session",
            );
        }
    }
}

/// A task runs all its sessions (variants × profiles) at once, and they count against the
/// plan's `max_parallel`: one that needs more could never start.
fn check_sizes(f: &mut Findings<'_>, max_parallel: Option<u32>, tasks: &[Task]) {
    let Some(cap) = max_parallel else {
        return;
    };
    for t in tasks {
        let sessions = t.agents.len().max(1) as u32 * t.variants;
        if sessions > cap {
            f.problem(
                Some(t.line),
                Some(&t.id),
                format!(
                    "it runs {sessions} sessions at once (variants × agents), more than \
                     max_parallel = {cap}: it could never start"
                ),
            );
        }
    }
}

/// `{{ task.ID.result }}` must name a task this one depends on (directly or not): any other
/// may not have run when it starts. `{{ deps }}` without dependencies is empty.
fn check_templates(f: &mut Findings<'_>, tasks: &[Task]) {
    use super::templates::{Placeholder, placeholders};
    let deps_of = |id: &str| -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut todo = vec![id.to_owned()];
        while let Some(next) = todo.pop() {
            if let Some(t) = tasks.iter().find(|t| t.id == next) {
                for d in &t.depends_on {
                    if seen.insert(d.clone()) {
                        todo.push(d.clone());
                    }
                }
            }
        }
        seen
    };
    for t in tasks {
        for p in placeholders(&t.prompt) {
            match p {
                Placeholder::Deps if t.depends_on.is_empty() => f.warning(
                    Some(t.line),
                    Some(&t.id),
                    "its prompt uses {{ deps }} but it depends on nothing (it will be empty)",
                ),
                Placeholder::Result(other) if !deps_of(&t.id).contains(other) => f.problem(
                    Some(t.line),
                    Some(&t.id),
                    format!(
                        "its prompt uses the result of '{other}', which it does not depend on \
                         (add it to depends_on)"
                    ),
                ),
                _ => {}
            }
        }
    }
}

fn check_task(
    f: &mut Findings<'_>,
    raw: &TaskFile,
    dir: &Path,
    files: &[String],
    profiles: &Profiles<'_>,
    seen: &mut HashSet<String>,
) -> Option<Task> {
    let before = f.problems.len();
    let id = raw.id.get_ref().trim().to_owned();
    let line = line_of(f.text, raw.id.span().start);
    let shown = (!id.is_empty()).then_some(id.as_str());
    if id.is_empty() {
        f.problem(Some(line), None, "a task has an empty id");
    } else if !seen.insert(id.clone()) {
        f.problem(Some(line), shown, "duplicate task id (ids must be unique)");
    }
    let (prompt, prompt_file) = task_prompt(f, raw, dir, shown);
    // Profiles.
    let agents = raw.agents();
    let agent_line = raw.agent.as_ref().and_then(|a| f.at(a.span()));
    for agent in &agents {
        match profiles.find(agent, None) {
            Ok(profile) => {
                if profile.resolve_program().is_err() {
                    f.warning(
                        agent_line,
                        shown,
                        format!(
                            "profile '{agent}': its program '{}' is not installed",
                            profile.program
                        ),
                    );
                    f.missing.extend(f.warnings.last().cloned());
                }
            }
            Err(err) => f.problem(agent_line, shown, format!("unknown profile: {err:#}")),
        }
    }
    let variants = match &raw.variants {
        None => 1,
        Some(v) => match u32::try_from(*v.get_ref()) {
            Ok(n) if n > 0 => n,
            _ => {
                f.problem(
                    f.at(v.span()),
                    shown,
                    "variants must be a whole number of at least 1",
                );
                1
            }
        },
    };
    let retries = match &raw.retries {
        None => 0,
        Some(r) => u32::try_from(*r.get_ref()).unwrap_or_else(|_| {
            f.problem(
                f.at(r.span()),
                shown,
                "retries must be a whole number (0 or more)",
            );
            0
        }),
    };
    let budget = raw.budget.as_ref().and_then(|b| {
        let text = b.get_ref().text();
        crate::session::parse_budget(&text)
            .map_err(|why| f.problem(f.at(b.span()), shown, format!("bad budget '{text}': {why}")))
            .ok()
    });
    let timeout = raw.timeout.as_ref().and_then(|t| {
        let text = t.get_ref().text();
        crate::time::parse_duration(&text)
            .map_err(|err| f.problem(f.at(t.span()), shown, format!("bad timeout: {err:#}")))
            .ok()
    });
    check_touches(f, raw, files, shown);
    if f.problems.len() > before {
        return None;
    }
    Some(Task {
        id,
        line,
        prompt: prompt.unwrap_or_default(),
        prompt_file,
        agents,
        variants,
        depends_on: raw.depends_on.iter().map(|d| d.get_ref().clone()).collect(),
        touches: raw.touches.iter().map(|t| t.get_ref().clone()).collect(),
        verify: raw.verify.clone(),
        budget,
        timeout,
        retries,
    })
}

/// The paths of the files in `commit`.
fn files_at(repo: &gix::Repository, commit: &str) -> Result<Vec<String>> {
    let id = gix::ObjectId::from_hex(commit.as_bytes())?;
    let tree = repo.find_commit(id)?.tree()?;
    Ok(tree
        .traverse()
        .breadthfirst
        .files()?
        .into_iter()
        .filter(|e| !e.mode.is_tree())
        .map(|e| e.filepath.to_string())
        .collect())
}

/// The plan's own settings: `name`, `land`, `max_parallel`.
fn settings(f: &mut Findings<'_>, raw: &PlanFile) -> (String, Land, Option<u32>) {
    let name = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            f.problem(f.at(n.span()), None, "the plan's name is empty");
            String::new()
        }
        Some(n) => {
            if let Err(err) = crate::names::check(n.get_ref()) {
                f.problem(f.at(n.span()), None, format!("bad plan name: {err}"));
            }
            n.get_ref().clone()
        }
        None => {
            f.problem(
                None,
                None,
                "the plan has no name (name = \"…\": its integration branch is plan/<name>)",
            );
            String::new()
        }
    };
    let land = match raw.land.as_ref().map(|l| (l.get_ref().as_str(), l.span())) {
        None | Some(("manual", _)) => Land::Manual,
        Some(("auto", _)) => Land::Auto,
        Some((other, span)) => {
            f.problem(
                f.at(span),
                None,
                format!("bad land '{other}': it must be \"manual\" or \"auto\""),
            );
            Land::Manual
        }
    };
    let max_parallel = raw.max_parallel.as_ref().and_then(|m| {
        match u32::try_from(*m.get_ref()) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                f.problem(
                    f.at(m.span()),
                    None,
                    format!(
                        "bad max_parallel {}: it must be a whole number of at least 1 (0 would never start anything)",
                        m.get_ref()
                    ),
                );
                None
            }
        }
    });
    (name, land, max_parallel)
}

/// Dependencies (known ids, no cycle) and, for a plan without problems, its waves.
fn check_graph(
    f: &mut Findings<'_>,
    raw: &PlanFile,
    tasks: &[Task],
    files: &[String],
) -> Vec<Wave> {
    // Dependencies, now that every id is known.
    let ids: HashSet<&str> = raw.tasks.iter().map(|t| t.id.get_ref().as_str()).collect();
    for t in &raw.tasks {
        for dep in &t.depends_on {
            if !ids.contains(dep.get_ref().as_str()) {
                f.problem(
                    f.at(dep.span()),
                    Some(t.id.get_ref()),
                    format!(
                        "depends on '{}', which is not a task of this plan",
                        dep.get_ref()
                    ),
                );
            }
        }
    }
    // Cycles, over every task as written (a task with other problems still has its edges).
    let raw_deps: Vec<Vec<String>> = raw
        .tasks
        .iter()
        .map(|t| t.depends_on.iter().map(|d| d.get_ref().clone()).collect())
        .collect();
    let no_touches: Vec<String> = Vec::new();
    let raw_nodes: Vec<Node<'_>> = raw
        .tasks
        .iter()
        .zip(&raw_deps)
        .map(|(t, deps)| Node {
            id: t.id.get_ref(),
            depends_on: deps,
            touches: &no_touches,
        })
        .collect();
    if let Some(cycle) = graph::find_cycle(&raw_nodes) {
        let first = raw
            .tasks
            .iter()
            .find(|t| *t.id.get_ref() == cycle[0])
            .map(|t| line_of(f.text, t.id.span().start));
        f.problem(
            first,
            Some(&cycle[0]),
            format!(
                "a dependency cycle: {} (none of them can ever start)",
                cycle.join(" → ")
            ),
        );
    }
    if !f.problems.is_empty() {
        return Vec::new();
    }
    {
        let nodes: Vec<Node<'_>> = tasks
            .iter()
            .map(|t: &Task| Node {
                id: &t.id,
                depends_on: &t.depends_on,
                touches: &t.touches,
            })
            .collect();
        graph::waves(&nodes, files)
    }
}

/// A task's prompt: exactly one of `prompt` and `prompt_file`, not empty. The text and the
/// file it was read from.
fn task_prompt(
    f: &mut Findings<'_>,
    raw: &TaskFile,
    dir: &Path,
    shown: Option<&str>,
) -> (Option<String>, Option<std::path::PathBuf>) {
    let line = Some(line_of(f.text, raw.id.span().start));
    // The prompt: exactly one of `prompt` and `prompt_file`.
    let mut prompt_file = None;
    let prompt = match (&raw.prompt, &raw.prompt_file) {
        (Some(_), Some(pf)) => {
            f.problem(
                f.at(pf.span()),
                shown,
                "has both prompt and prompt_file: give one",
            );
            None
        }
        (None, None) => {
            f.problem(line, shown, "has no prompt (prompt or prompt_file)");
            None
        }
        (Some(p), None) => Some((p.get_ref().clone(), f.at(p.span()))),
        (None, Some(pf)) => {
            let path = dir.join(pf.get_ref());
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    prompt_file = Some(path);
                    Some((text, f.at(pf.span())))
                }
                Err(err) => {
                    f.problem(
                        f.at(pf.span()),
                        shown,
                        format!("cannot read prompt_file {}: {err}", path.display()),
                    );
                    None
                }
            }
        }
    };
    if let Some((text, at)) = &prompt
        && text.trim().is_empty()
    {
        f.problem(*at, shown, "the prompt is empty");
    }
    (prompt.map(|(text, _)| text), prompt_file)
}

/// A task's `touches`: inside the repository; a glob matching nothing is fine (new files).
fn check_touches(f: &mut Findings<'_>, raw: &TaskFile, files: &[String], shown: Option<&str>) {
    // Owned paths: inside the repository; a glob matching nothing is fine (new files).
    for glob in &raw.touches {
        let g = glob.get_ref();
        let at = f.at(glob.span());
        if g.trim().is_empty() {
            f.problem(at, shown, "an empty touches glob");
        } else if g.starts_with('/') || g.split('/').any(|part| part == "..") {
            f.problem(
                at,
                shown,
                format!(
                    "touches '{g}' escapes the repository (globs are relative to its top, without '..')"
                ),
            );
        } else if !files.iter().any(|file| graph::matches(g, file)) {
            f.warning(
                at,
                shown,
                format!("touches '{g}' matches no file at the base (fine if the task creates it)"),
            );
        }
    }
}
