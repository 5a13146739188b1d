//! `git-agent-merge` (`git agent merge …`, `git agent conflicts`, `git agent sync`): land
//! agents' work on their target branches safely, predict conflicts between them, and bring
//! their branches up to date.

mod apply;
mod cli;
mod conflicts;
mod land;
mod pr;
mod queue;
mod sync;
mod target;

fn main() -> std::process::ExitCode {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    git_agent::cli::run_binary::<git_agent::cli::merge::Cli>(&mut out, &mut err, cli::run)
}
