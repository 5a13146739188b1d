//! The vocabulary of a merge: what the user asks for ([`Strategy`], [`Options`]) and what
//! one attempt returns ([`Step`] and its [`Landed`], [`Refused`], [`Plan`]). These types are
//! the `--json` documents of `git agent merge`: a field renamed here changes the output.
//!
//! Owns only data and its parsing from config; runs no git, touches no session.

use std::path::PathBuf;

use anyhow::Result;
use git_agent::error::Failure;
use git_agent::git::repo::Repo;
use git_agent::ops::remove;
use serde::Serialize;

/// How the work is integrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// One new commit on the target with all of the work.
    Squash,
    /// The agent's commits, rebased onto the target, then a fast-forward.
    Rebase,
    /// A merge commit joining the agent's branch.
    Merge,
    /// Only if the target can fast-forward to the agent's branch.
    FfOnly,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Squash => "squash",
            Self::Rebase => "rebase",
            Self::Merge => "merge",
            Self::FfOnly => "ff-only",
        }
    }

    /// The strategy a merge record names (squash for a name this build does not know).
    pub fn named(name: &str) -> Self {
        match name {
            "rebase" => Self::Rebase,
            "merge" => Self::Merge,
            "ff-only" => Self::FfOnly,
            _ => Self::Squash,
        }
    }

    /// `agent.mergeStrategy`, else squash.
    pub fn configured(repo: &Repo) -> Result<Self> {
        match repo.config().string("agent.mergeStrategy").as_deref() {
            None | Some("squash") => Ok(Self::Squash),
            Some("rebase") => Ok(Self::Rebase),
            Some("merge") => Ok(Self::Merge),
            Some("ff-only") => Ok(Self::FfOnly),
            Some(other) => Err(Failure::fatal(format!(
                "bad config value '{other}' for agent.mergeStrategy"
            ))
            .hint("use squash, rebase, merge or ff-only")
            .into()),
        }
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub strategy: Option<Strategy>,
    pub into: Option<String>,
    pub message: Option<String>,
    pub dry_run: bool,
    pub keep: bool,
    pub verify: bool,
    pub trust: bool,
    pub fetch: bool,
    /// In a queue: a branch that cannot fast-forward is rebased onto the target first.
    pub rebase_first: bool,
    /// Results go out as JSON (stdout holds nothing else).
    pub json: bool,
}

/// One merge attempt's result.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Step {
    Merged(Landed),
    /// Nothing to do: the work is in the target already.
    AlreadyMerged(Landed),
    /// Refused for a reason in the content (exit 1): conflicts, verify, not a fast-forward.
    Refused(Refused),
    /// `--dry-run`.
    Planned(Plan),
}

#[derive(Debug, Clone, Serialize)]
pub struct Landed {
    pub session: String,
    pub into: String,
    pub strategy: Strategy,
    pub commit: String,
    pub previous: String,
    pub commits: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<Box<remove::Outcome>>,
    /// Why the session was kept despite no `--keep`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    pub session: String,
    pub into: String,
    pub why: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub session: String,
    pub into: String,
    pub strategy: Strategy,
    pub commits: Vec<String>,
    pub files: Vec<String>,
    pub insertions: u64,
    pub deletions: u64,
    /// Uncommitted changes that would be committed first.
    pub uncommitted: bool,
    /// Where the target is checked out (it would move with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout: Option<PathBuf>,
    pub fast_forward: bool,
    pub keep: bool,
}
