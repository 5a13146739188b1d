//! `git-agent`: the front door of the suite (`git agent …`).

fn main() -> std::process::ExitCode {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    git_agent::cli::main(&mut out, &mut err)
}
