//! `git agent fork NAME [--name NEW] MESSAGE`: a new session that starts where NAME is now
//! (its branch at NAME's tip, NAME's uncommitted work copied in) and whose agent takes up a
//! fork of NAME's conversation, steered by MESSAGE. NAME is untouched and still resumable;
//! the fork joins NAME's group (`review --group` compares them). What it starts from is
//! [`crate::ops::fork`]; the session is created as `git agent new` creates one.

use anyhow::Result;

use super::{Ctx, MessageArgs, PorcelainOutputArgs};
use crate::error::Failure;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  git agent fork fix-login \"try it with a retry loop instead\"
  git agent fork fix-login --name fix-login-mock -m \"mock the clock rather than sleeping\"
  git agent review --group fix-login          (compare NAME and its forks)")]
#[command(
    mut_args(super::reword("json", |a| a.help("Print the created session as JSON"))),
    mut_args(super::reword("porcelain", |a| a.help("Print only the worktree path of the fork"))),
)]
pub struct Args {
    /// The session to fork
    #[arg(value_name = "NAME", value_parser = crate::cli::session_name)]
    pub name: String,
    /// The fork's name [default: NAME-fork]
    #[arg(long = "name", value_name = "NEW", value_parser = crate::cli::session_name)]
    pub new_name: Option<String>,
    #[command(flatten)]
    pub text: MessageArgs,
    /// Stop the agent after this long (90s, 30m, 2h) [config: agent.timeout]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Leave what the agent did not commit uncommitted [config: agent.autoCommit]
    #[arg(long)]
    pub no_auto_commit: bool,
    /// Do not run the setup hook (agent.setup or .git-agent.toml)
    #[arg(long)]
    pub no_setup: bool,
    /// Approve the commands .git-agent.toml defines (setup, profiles) without asking
    #[arg(long)]
    pub trust: bool,
    /// Allow the fork's worktree in the system's temporary folder [config: agent.allowTemp]
    #[arg(long)]
    pub allow_temp: bool,
    #[command(flatten)]
    pub output: PorcelainOutputArgs,
    /// What the fork should do differently, as words
    #[arg(value_name = "MESSAGE")]
    pub words: Vec<String>,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let message = args.text.read(&args.words, "message")?;
    if message.trim().is_empty() {
        return Err(
            Failure::usage("no message given: say how the fork should go on")
                .hint("git agent fork NAME \"try it another way\"  (or -m MSG, or -F FILE)")
                .into(),
        );
    }
    let repo = ctx.repo()?;
    let state = repo.state();
    let fork = crate::ops::fork::prepare(&state, &args.name)?;
    let (owner, group) = (fork.owner.clone(), fork.group.clone());
    let new_args = super::new::Args {
        name: args.new_name,
        agent: vec![owner.agent.profile.clone()],
        count: None,
        base: None,
        branch: None,
        timeout: args.timeout,
        max_parallel: None,
        budget: None,
        runner: None,
        task: MessageArgs {
            message: Vec::new(),
            file: None,
        },
        permission_mode: owner.agent.permission_mode.clone(),
        read_only: false,
        in_session: None,
        continue_from: None,
        fresh: false,
        take_changes: false,
        trust: args.trust,
        no_setup: args.no_setup,
        allow_temp: args.allow_temp,
        no_auto_commit: args.no_auto_commit,
        output: args.output,
        prompt: vec![message],
        command: Vec::new(),
        fork: Some(Box::new(fork)),
    };
    let code = super::new::run(ctx, new_args)?;
    crate::ops::fork::join_group(&state, &owner, &group)?;
    Ok(code)
}
