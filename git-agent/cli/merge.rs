//! The command line of `git-agent-merge` (`git agent merge …`, and the `conflicts` and `sync`
//! subcommands `git agent` hands to it). Here, in the library, so the man page and the
//! completions are generated from the same definitions.

use clap::{Args, Parser, Subcommand};

use crate::commands::OutputArgs;

const AFTER_HELP: &str = "\
Examples:
  git agent merge fix-login                    squash it onto its base branch, remove its worktree
  git agent merge fix-login --rebase --keep    its commits rebased onto the target; keep the session
  git agent merge fix-login --dry-run          what would land, and whether it conflicts
  git agent merge speed-2 --discard-others     the winner of a group; the other variants removed
  git agent merge a b c                        a merge queue, in the suggested order
  git agent merge fix-login --apply            its changes, uncommitted, in this checkout
  git agent merge fix-login --pr               push it and open a pull request (gh)
  git agent conflicts                          predicted conflicts of every session
  git agent sync fix-login                     bring its base branch's new commits in

Exit status: 0 merged (or nothing to do); 1 refused: conflicts, a failed verify, not a
fast-forward, or local changes in the way (the paths are listed); 2 usage error; 128 fatal.";

#[derive(Debug, Parser)]
#[command(
    name = "git-agent-merge",
    bin_name = "git agent merge",
    version,
    about = "Land agents' work: merge, squash, rebase, apply or open a pull request; predict conflicts",
    long_about = "Land an agent's work on the branch it was started from (or --into another): \
squash, rebase, merge or fast-forward, with the merge predicted in memory first, your checkout \
never left half-merged, and the session removed safely afterwards. Several sessions make a merge \
queue. Also: 'git agent conflicts' (predicted conflicts between sessions) and 'git agent sync' \
(bring the target's new commits into a session).",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub color: super::ColorArg,
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub merge: MergeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Predicted conflicts between sessions and with their targets, and a merge order
    #[command(
        override_usage = "git agent conflicts [--json] [--scan] [--into BRANCH] [NAME…|--all]"
    )]
    Conflicts(ConflictsArgs),
    /// Bring the target's new commits into a session's worktree
    #[command(
        override_usage = "git agent sync [--merge|--rebase] [--into BRANCH] [--ask-agent] NAME\n       git agent sync (--continue|--abort) NAME"
    )]
    Sync(SyncArgs),
}

#[derive(Debug, Args)]
#[group(id = "strategy", multiple = false)]
pub struct StrategyArgs {
    /// One new commit on the target with all of the work [default: agent.mergeStrategy, or this]
    #[arg(long, group = "strategy")]
    pub squash: bool,
    /// The agent's commits rebased onto the target (in its worktree), then a fast-forward
    #[arg(long, group = "strategy")]
    pub rebase: bool,
    /// A merge commit joining the agent's branch
    #[arg(long, group = "strategy")]
    pub merge: bool,
    /// Only a fast-forward of the target to the agent's branch
    #[arg(long, group = "strategy")]
    pub ff_only: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The session to merge; several make a merge queue
    #[arg(value_name = "NAME", value_parser = super::session_name)]
    pub names: Vec<String>,
    /// With --all: every variant of this group, as a merge queue
    #[arg(long, value_name = "GROUP", value_parser = super::session_name, requires = "all")]
    pub group: Option<String>,
    /// With --group: all of its variants
    #[arg(long, requires = "group")]
    pub all: bool,
    #[command(flatten)]
    pub strategy: StrategyArgs,
    /// The branch to merge into [default: the session's base branch]
    #[arg(long, value_name = "BRANCH")]
    pub into: Option<String>,
    /// The commit message (squash and merge) [default: the task and the agent's summary]
    #[arg(short, long, value_name = "MSG")]
    pub message: Option<String>,
    /// Show what would land and whether it conflicts; change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Keep the session and its worktree after merging
    #[arg(long)]
    pub keep: bool,
    /// Run the verify command on the merged result before the target moves
    #[arg(long)]
    pub verify: bool,
    /// Approve the verify command of .git-agent.toml without asking
    #[arg(long)]
    pub trust: bool,
    /// Fetch the target's upstream first
    #[arg(long)]
    pub fetch: bool,
    /// Put the changes into this checkout, uncommitted, instead of merging
    #[arg(long, conflicts_with_all = ["pr", "dry_run", "keep", "discard_others", "message"])]
    pub apply: bool,
    /// Push the branch and open a pull request (with gh) instead of merging
    #[arg(long, conflicts_with_all = ["dry_run", "keep", "discard_others", "message"])]
    pub pr: bool,
    /// After merging, remove the other variants of its group (their branches are kept)
    #[arg(long)]
    pub discard_others: bool,
    /// With --discard-others: remove variants even with uncommitted work
    #[arg(long, requires = "discard_others")]
    pub force: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(mut_args(crate::commands::reword("json", |a| a.help("Print the prediction as JSON"))))]
pub struct ConflictsArgs {
    /// Sessions to check [default: every session that is not merged]
    #[arg(value_name = "NAME", value_parser = super::session_name)]
    pub names: Vec<String>,
    /// Every session (the default without names)
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Check against this branch instead of each session's base branch
    #[arg(long, value_name = "BRANCH")]
    pub into: Option<String>,
    /// Run git status in every worktree [default: in those of running agents, those a run
    /// left uncommitted work in, and those a quick look finds changed since the run ended]
    #[arg(long)]
    pub scan: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The session to bring up to date
    #[arg(value_name = "NAME", value_parser = super::session_name)]
    pub name: String,
    /// Merge the target into the branch [default: agent.syncStrategy, or this]
    #[arg(long, conflicts_with = "rebase")]
    pub merge: bool,
    /// Rebase the branch onto the target
    #[arg(long)]
    pub rebase: bool,
    /// The branch to bring in [default: the session's base branch]
    #[arg(long, value_name = "BRANCH")]
    pub into: Option<String>,
    /// On a conflict, ask the agent to resolve it (it is told what each side was doing)
    #[arg(long)]
    pub ask_agent: bool,
    /// Finish a sync that stopped at conflicts, once they are resolved
    #[arg(long = "continue", conflicts_with_all = ["abort", "ask_agent"])]
    pub continue_: bool,
    /// Take back a sync that stopped at conflicts
    #[arg(long, conflicts_with = "ask_agent")]
    pub abort: bool,
}
