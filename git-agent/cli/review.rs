//! The command line of `git-agent-review` (`git agent review …`). Here, in the library, so the
//! man page and the completions are generated from the same definitions.

use clap::Parser;

use crate::commands::OutputArgs;

const AFTER_HELP: &str = "\
Examples:
  git agent review fix-login                  the whole result against its base
  git agent review fix-login --stat -- src/   a summary, for some paths
  git agent review fix-login speed-2          the difference between two results
  git agent review --group speed --verify     verify the variants, then compare them
  git agent review --group speed --ai-judge   another agent ranks them, with reasons
  git agent review fix-login --comment src/login.rs:42 \"use a constant-time compare\"
  git agent review fix-login --edit --send    comments in the editor, sent to the agent
  git agent review fix-login --ai             another agent reviews the whole branch
  git agent review fix-login --ai --uncommitted --agent codex --send
                                              codex reviews the uncommitted changes; its
                                              findings go straight back to the agent

Exit status: 0 reviewed; 1 a verify failed; 2 usage error; 3 needs a terminal; 128 fatal.";

#[derive(Debug, Parser)]
#[command(
    mut_args(crate::commands::reword("json", |a| a.help("Print the result (or the comparison) as JSON"))),
    name = "git-agent-review",
    bin_name = "git agent review",
    version,
    about = "Review agents' results: diff against the base, compare variants, verify, send comments",
    long_about = "Review what an agent did: its whole result (committed, staged, unstaged and new \
files) against the merge-base of its recorded base branch as it is now, variants compared side \
by side, the project's verify command, and review rounds of comments (yours, or with --ai \
another agent's, in its read-only mode) sent back to the agent.",
    after_help = AFTER_HELP,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub color: super::ColorArg,
    /// The session to review; with a second one, the difference between their results
    #[arg(value_name = "NAME", value_parser = super::session_name)]
    pub names: Vec<String>,
    /// Show the difference between NAME's result and this session's
    #[arg(long, value_name = "SESSION", value_parser = super::session_name)]
    pub against: Option<String>,
    /// Compare the variants of a group (git agent new -n/--agent a,b)
    #[arg(long, value_name = "GROUP", value_parser = super::session_name, conflicts_with = "against")]
    pub group: Option<String>,
    /// Compare the named sessions
    #[arg(long, conflicts_with_all = ["against", "group"])]
    pub compare: bool,
    /// A diffstat instead of the diff
    #[arg(long, conflicts_with_all = ["name_only", "json"])]
    pub stat: bool,
    /// Only the names of changed files
    #[arg(long, conflicts_with = "json")]
    pub name_only: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Run the verify command (agent.verify or .git-agent.toml) and record the result
    #[arg(long)]
    pub verify: bool,
    /// Verify this many sessions at once (with --group/--compare)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    /// Add a comment to the open review round: LOCATION is PATH:LINE, PATH or -
    #[arg(long, num_args = 2, value_names = ["LOCATION", "TEXT"])]
    pub comment: Vec<String>,
    /// Write comments in the editor, under the diff lines they are about (with --ai: edit the
    /// round with the reviewer's findings before it is sent)
    #[arg(long)]
    pub edit: bool,
    /// AI review: another agent, in its read-only mode, reviews the whole branch vs. its base;
    /// its findings go into the open review round
    #[arg(long, conflicts_with_all = ["against", "group", "compare", "stat", "name_only", "verify", "comment", "list_rounds"])]
    pub ai: bool,
    /// With --ai or --ai-judge: the reviewer's profile [config: agent.reviewer; default: an
    /// installed built-in other than the ones that wrote the code]
    #[arg(long, value_name = "PROFILE")]
    pub agent: Option<String>,
    /// With --ai: AI review of the staged and unstaged changes in the worktree only
    #[arg(long, requires = "ai")]
    pub uncommitted: bool,
    /// Send the open review round to the agent (resuming its conversation)
    #[arg(long)]
    pub send: bool,
    /// With --send: if the agent is running, deliver when its current run ends
    #[arg(long, requires = "send")]
    pub queue: bool,
    /// List the review rounds and whether they were sent
    #[arg(long)]
    pub list_rounds: bool,
    /// With --group/--compare: another agent ranks the variants, best first, with a reason
    /// each (it reads, never edits; it merges nothing)
    #[arg(long, conflicts_with_all = ["ai", "against"])]
    pub ai_judge: bool,
    /// Approve the verify command of .git-agent.toml without asking
    #[arg(long)]
    pub trust: bool,
    /// Do not offer the menu after the diff, even on a terminal
    #[arg(long)]
    pub no_menu: bool,
    /// Limit the diff to these paths
    #[arg(last = true, value_name = "PATHS")]
    pub paths: Vec<String>,
}
