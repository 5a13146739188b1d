//! `git-agent-review` (`git agent review …`): an agent's result against its base, variants
//! compared, the project's verify command, and review rounds sent back to the agent.

mod ai;
mod cli;
mod compare;
mod diff;
mod edit;
mod interactive;
mod judge;

fn main() -> std::process::ExitCode {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    git_agent::cli::run_binary::<git_agent::cli::review::Cli>(&mut out, &mut err, cli::run)
}
