//! `git agent completions bash|zsh|fish`: shell completions for the whole suite, generated
//! from the clap definitions of all three binaries (so `review`, `merge`, `conflicts` and
//! `sync` complete too).
//!
//! For bash the script also defines `_git_agent`, the function git's own completion calls for
//! `git agent <TAB>` (git-completion.bash, "_git_<command>"), and completes session names
//! where a NAME is expected, from `git agent __names` (a directory listing, no git call).

use anyhow::Result;
use clap::CommandFactory as _;
use clap_complete::Shell;

use super::Ctx;
use crate::cli;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// Verbs whose first argument is a session name.
const TAKES_NAME: &[&str] = &[
    "show",
    "logs",
    "stop",
    "wait",
    "send",
    "fork",
    "rm",
    "resume",
    "run",
    "exec",
    "path",
    "review",
    "merge",
    "sync",
    "conflicts",
];

/// The whole suite as one command tree named `bin`: `git-agent` with the plugins' verbs added.
pub fn suite(bin: &str) -> clap::Command {
    // Rebuilt from the visible verbs: hidden ones (`__supervise`) are not completed.
    let root = cli::Cli::command();
    let mut cmd = clap::Command::new("git-agent")
        .bin_name(bin)
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true)
        .subcommands(root.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    // Their own bin names say "git agent …"; completion paths are built from bin names.
    cmd = cmd.subcommand(
        cli::review::Cli::command()
            .name("review")
            .bin_name(format!("{bin} review")),
    );
    let merge = cli::merge::Cli::command();
    for sub in merge.get_subcommands() {
        let name = sub.get_name().to_owned();
        cmd = cmd.subcommand(sub.clone().bin_name(format!("{bin} {name}")));
    }
    cmd = cmd.subcommand(merge.name("merge").bin_name(format!("{bin} merge")));
    // Completion paths come from bin names: every verb is `BIN VERB`.
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        let sub_bin = format!("{bin} {name}");
        cmd = cmd.mut_subcommand(&name, |s| s.bin_name(sub_bin));
    }
    cmd
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let (shell, bin) = match args.shell {
        // clap_complete's bash output mangles a dash in the command's name inconsistently;
        // the bridge below calls it under a dashless name (and registers git-agent itself).
        CompletionShell::Bash => (Shell::Bash, "gitagent"),
        CompletionShell::Zsh => (Shell::Zsh, "git-agent"),
        CompletionShell::Fish => (Shell::Fish, "git-agent"),
    };
    let mut cmd = suite(bin);
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, bin, &mut script);
    ctx.out.write_all(&script)?;
    match args.shell {
        CompletionShell::Bash => write!(ctx.out, "{}", bash_bridge())?,
        CompletionShell::Fish => write!(ctx.out, "{}", fish_names())?,
        CompletionShell::Zsh => {}
    }
    Ok(0)
}

fn bash_bridge() -> String {
    format!(
        r#"
# git agent <TAB>: git's completion calls _git_agent; git-agent <TAB> uses it too.
_git_agent() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" start=0 i
    if [[ ${{COMP_WORDS[0]}} != git-agent ]]; then
        for ((i = 1; i < COMP_CWORD; i++)); do
            if [[ ${{COMP_WORDS[i]}} == agent ]]; then start=$i; break; fi
        done
    fi
    local verb="${{COMP_WORDS[start + 1]}}"
    if ((COMP_CWORD == start + 2)) && [[ $cur != -* ]]; then
        case " {names} " in
            *" $verb "*)
                COMPREPLY=($(compgen -W "$(git agent __names 2>/dev/null)" -- "$cur"))
                ((${{#COMPREPLY[@]}})) && return 0
                ;;
        esac
    fi
    local COMP_WORDS=("git-agent" "${{COMP_WORDS[@]:start + 1}}")
    local COMP_CWORD=$((COMP_CWORD - start))
    local COMP_LINE="${{COMP_WORDS[*]}}"
    local COMP_POINT=${{#COMP_LINE}}
    _gitagent git-agent "$cur" "${{COMP_WORDS[COMP_CWORD - 1]}}"
}}
complete -F _git_agent -o bashdefault -o default git-agent
"#,
        names = TAKES_NAME.join(" ")
    )
}

fn fish_names() -> String {
    format!(
        "\n# Session names where a NAME is expected.\ncomplete -c git-agent -n \"__fish_seen_subcommand_from {}\" -f -a \"(git agent __names 2>/dev/null)\"\n",
        TAKES_NAME.join(" ")
    )
}

/// `git agent __names`: the session names, one per line (for completion scripts).
pub fn names(ctx: &mut Ctx<'_>) -> Result<u8> {
    let repo = ctx.repo()?;
    for name in repo.state().names()? {
        writeln!(ctx.out, "{name}")?;
    }
    Ok(0)
}
