//! `git agent help [COMMAND]`, and handing unknown verbs to `git-agent-<verb>` plugins.
//!
//! How plugins are found: [`crate::ops::plugins`].

use std::ffi::OsString;

use anyhow::Result;
use clap::CommandFactory as _;

use super::Ctx;
use crate::cli::Cli;
use crate::error::Failure;
use crate::ops::plugins::{find_plugin, plugins};
use crate::process::Cmd;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The command to explain
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// Verbs served by a subcommand of one of the suite's binaries: `git agent conflicts` runs
/// `git-agent-merge conflicts`.
const SUITE_VERBS: &[(&str, &str)] = &[("conflicts", "merge"), ("sync", "merge")];

/// The plugin and leading arguments that serve `verb`.
fn route(verb: &str) -> (&str, Option<&str>) {
    SUITE_VERBS
        .iter()
        .find(|(v, _)| *v == verb)
        .map_or((verb, None), |(v, binary)| (*binary, Some(*v)))
}

fn builtin_verbs() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_owned())
        .collect()
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let mut cli = Cli::command();
    match args.command {
        None => {
            write!(ctx.out, "{}", cli.render_long_help())?;
            let plugins = plugins();
            if !plugins.is_empty() {
                writeln!(ctx.out, "\nPlugins:")?;
                let width = plugins.keys().map(String::len).max().unwrap_or(0);
                for (verb, path) in &plugins {
                    // The verbs a suite binary serves as subcommands are listed with it.
                    let also: Vec<&str> = SUITE_VERBS
                        .iter()
                        .filter(|(_, binary)| binary == verb)
                        .map(|(v, _)| *v)
                        .collect();
                    let also = if also.is_empty() {
                        String::new()
                    } else {
                        format!(" (also: {})", also.join(", "))
                    };
                    writeln!(ctx.out, "  {verb:width$}  {}{also}", path.display())?;
                }
            }
            Ok(0)
        }
        Some(verb) => {
            if let Some(sub) = cli.find_subcommand_mut(&verb).filter(|c| !c.is_hide_set()) {
                let mut sub = sub.clone().bin_name(format!("git agent {verb}"));
                write!(ctx.out, "{}", sub.render_long_help())?;
                return Ok(0);
            }
            let (plugin, sub) = route(&verb);
            match find_plugin(plugin) {
                Some(path) => Err(Cmd::new(path).args(sub).arg("--help").exec()),
                None => Err(unknown(&verb)),
            }
        }
    }
}

/// Runs `git-agent-<verb>` with the remaining arguments, replacing this process.
pub fn run_plugin(_ctx: &mut Ctx<'_>, argv: &[OsString]) -> Result<u8> {
    let Some((verb, rest)) = argv.split_first() else {
        return Err(Failure::usage("no command given").into());
    };
    let verb = verb.to_string_lossy().into_owned();
    let (plugin, sub) = route(&verb);
    match find_plugin(plugin) {
        // exec only returns on failure; the plugin's exit code becomes ours.
        Some(path) => Err(Cmd::new(path).args(sub).args(rest).exec()),
        None => Err(unknown(&verb)),
    }
}

fn unknown(verb: &str) -> anyhow::Error {
    let mut known = builtin_verbs();
    known.extend(plugins().into_keys());
    known.extend(SUITE_VERBS.iter().map(|(v, _)| (*v).to_owned()));
    let mut failure = Failure::usage(format!(
        "'{verb}' is not a git agent command. See 'git agent help'."
    ));
    let mut close: Vec<&String> = known
        .iter()
        .filter(|k| strsim::damerau_levenshtein(k, verb) <= 2)
        .collect();
    close.sort_by_key(|k| strsim::damerau_levenshtein(k, verb));
    if let Some(best) = close.first() {
        failure = failure.hint(format!("the most similar command is '{best}'"));
    }
    failure.into()
}
