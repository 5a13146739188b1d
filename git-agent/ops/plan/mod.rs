//! Plans (issue 15): a TOML file of tasks with dependencies and the paths each owns. This
//! module owns the file format and its parsing ([`parse`]: syntax, unknown keys, field types,
//! each error naming its line); `check.rs` validates a parsed plan against the repository
//! (base, profiles, prompt files, `touches` globs) and `graph.rs` orders its tasks into waves.
//!
//! Running a plan: `start.rs` (`plan run`), `drive.rs` (each advance: observe, start, retry),
//! `landing.rs` (a task onto the integration branch: merge, sync round, verify retries),
//! `finish.rs` (validate and land the integration branch), `calls.rs` (the `git agent`
//! commands a plan runs), `templates.rs` (`{{ deps }}`); `draft.rs` asks an agent, read-only,
//! for a plan (`plan draft`); the record is
//! `crate::state::plans`. Invariant: a [`Plan`]
//! that [`check::check`] accepted has unique non-empty ids, known dependencies, no cycle, one
//! non-empty prompt per task and `touches` globs inside the repository.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;
use toml::Spanned;

use crate::error::Failure;

pub mod calls;
pub mod check;
pub mod control;
pub mod draft;
pub mod drive;
pub mod finish;
pub mod graph;
mod landing;
pub mod start;
pub mod templates;

/// When the integration branch lands on the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Land {
    /// `git agent plan land NAME` (the default).
    Manual,
    /// As soon as `validate` passes.
    Auto,
}

/// A plan file as written: every field as the user gave it, with the span of what an error
/// may need to point at. `deny_unknown_fields`: a misspelt key is an error naming the key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub name: Option<Spanned<String>>,
    pub base: Option<Spanned<String>>,
    pub max_parallel: Option<Spanned<i64>>,
    pub validate: Option<String>,
    pub land: Option<Spanned<String>>,
    pub fix: Option<bool>,
    #[serde(default, rename = "task")]
    pub tasks: Vec<TaskFile>,
}

/// One `[[task]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskFile {
    pub id: Spanned<String>,
    pub prompt: Option<Spanned<String>>,
    pub prompt_file: Option<Spanned<String>>,
    pub agent: Option<Spanned<OneOrMany>>,
    pub variants: Option<Spanned<i64>>,
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    pub touches: Vec<Spanned<String>>,
    pub verify: Option<String>,
    pub budget: Option<Spanned<Scalar>>,
    pub timeout: Option<Spanned<Scalar>>,
    pub retries: Option<Spanned<i64>>,
}

/// `agent = "claude"` or `agent = ["claude", "codex"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        }
    }
}

/// `budget = 2` or `budget = "$2.50"`, `timeout = 90` or `timeout = "30m"`: read as text by
/// the parsers the command line uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Self::Int(n) => n.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Text(t) => t.clone(),
        }
    }
}

/// A validated plan (see [`check::check`]).
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan file, as given.
    pub path: PathBuf,
    pub name: String,
    /// The base as written (None: the current branch).
    pub base: Option<String>,
    pub max_parallel: Option<u32>,
    pub validate: Option<String>,
    pub land: Land,
    pub fix: bool,
    pub tasks: Vec<Task>,
}

/// A validated task.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    /// The line of its `id` in the plan file.
    pub line: usize,
    /// The prompt's text (read from `prompt_file` where one is given).
    pub prompt: String,
    /// `prompt_file`, resolved against the plan file's directory.
    pub prompt_file: Option<PathBuf>,
    /// Profiles (empty: the default profile).
    pub agents: Vec<String>,
    pub variants: u32,
    pub depends_on: Vec<String>,
    pub touches: Vec<String>,
    pub verify: Option<String>,
    pub budget: Option<f64>,
    pub timeout: Option<Duration>,
    pub retries: u32,
}

/// One thing wrong with a plan: where (line, task) and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub line: Option<usize>,
    pub task: Option<String>,
    pub message: String,
}

impl Problem {
    /// `FILE:LINE: task 'ID': MESSAGE`, the parts that are known.
    pub fn render(&self, file: &Path) -> String {
        let mut text = file.display().to_string();
        if let Some(line) = self.line {
            text.push_str(&format!(":{line}"));
        }
        text.push_str(": ");
        if let Some(task) = &self.task {
            text.push_str(&format!("task '{task}': "));
        }
        text.push_str(&self.message);
        text
    }
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |head| head.matches('\n').count() + 1)
}

/// Parses a plan file's text: TOML syntax, unknown keys and field types. An error names the
/// file and the line (`fatal: plan.toml:7: unknown field `promt`, expected one of …`).
pub fn parse(text: &str, file: &Path) -> Result<PlanFile> {
    toml::from_str::<PlanFile>(text).map_err(|err| {
        let line = err.span().map(|span| line_of(text, span.start));
        let problem = Problem {
            line,
            task: None,
            message: err.message().trim().to_owned(),
        };
        Failure::fatal(problem.render(file))
            .hint("the plan format is in the README, section \"Plans\"")
            .into()
    })
}

/// Reads a plan file into its raw form and the text it came from; errors name it `shown`
/// (the path as the user gave it).
pub fn read(file: &Path, shown: &Path) -> Result<(PlanFile, String)> {
    let text = std::fs::read_to_string(file).map_err(|err| {
        Failure::fatal(format!("cannot read the plan {}: {err}", shown.display()))
    })?;
    Ok((parse(&text, shown)?, text))
}

impl TaskFile {
    fn agents(&self) -> Vec<String> {
        self.agent
            .as_ref()
            .map(|a| a.get_ref().clone().into_vec())
            .unwrap_or_default()
    }
}
