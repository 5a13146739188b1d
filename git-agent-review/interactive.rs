//! On a terminal, after the diff: what next? Approve (merge it), request changes (comments in
//! the editor, sent to the agent), discard (remove it, with `rm`'s safety checks), or skip.
//! For a group: pick the winner. Never shown without a terminal; flags do everything there.

use anyhow::Result;
use clap::CommandFactory as _;
use git_agent::commands::Ctx;
use git_agent::process::Cmd;

/// `git agent <verb> …` is something this installation can do.
fn can(verb: &str) -> bool {
    git_agent::cli::Cli::command()
        .find_subcommand(verb)
        .is_some()
        || git_agent::ops::plugins::find_plugin(verb).is_some()
}

/// Runs `git agent ARGS…` in the foreground; its exit code.
fn git_agent(args: &[&str]) -> Result<u8> {
    let status = Cmd::new("git")
        .arg("agent")
        .args(args)
        .status_interactive()?;
    Ok(status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1))
}

/// What the reviewer chose for one session.
pub enum Choice {
    /// Changes requested: the comments were stored (and are to be sent).
    RequestChanges,
    Done(u8),
}

pub fn after_diff(ctx: &mut Ctx<'_>, name: &str) -> Result<Choice> {
    let mut items: Vec<(&str, String)> = Vec::new();
    if can("merge") {
        items.push((
            "merge",
            format!("Approve: merge it (git agent merge {name})"),
        ));
    }
    items.push((
        "changes",
        "Request changes: write comments in the editor and send them to the agent".into(),
    ));
    if can("rm") {
        items.push((
            "rm",
            format!("Discard: remove it (git agent rm {name}, nothing unmerged is lost)"),
        ));
    }
    items.push(("skip", "Skip".into()));
    let labels: Vec<&str> = items.iter().map(|(_, l)| l.as_str()).collect();
    let picked = ctx.select(&format!("What about {name}?"), &labels, labels.len() - 1)?;
    ctx.out.flush()?;
    Ok(match picked.map(|i| items[i].0) {
        Some("merge") => Choice::Done(git_agent(&["merge", name])?),
        Some("changes") => Choice::RequestChanges,
        Some("rm") => Choice::Done(git_agent(&["rm", name])?),
        _ => Choice::Done(0),
    })
}

/// Picks the winner of a group (the judge's pick, if any, offered first); merges it
/// (discarding the other variants) if this installation can.
pub fn pick_winner(ctx: &mut Ctx<'_>, names: &[String], judges_pick: Option<&str>) -> Result<u8> {
    let mut labels: Vec<String> = names
        .iter()
        .map(|n| {
            let judge = if Some(n.as_str()) == judges_pick {
                " (the judge's pick)"
            } else {
                ""
            };
            format!("{n} wins{judge}: merge it, discard the others (their branches are kept)")
        })
        .collect();
    labels.push("No winner yet".into());
    let picked = ctx.select("Pick the winner", &labels, labels.len() - 1)?;
    match picked {
        Some(i) if i < names.len() && can("merge") => {
            git_agent(&["merge", &names[i], "--discard-others"])
        }
        Some(i) if i < names.len() => {
            ctx.hint(&format!(
                "merge it with: git agent merge {} --discard-others",
                names[i]
            ))?;
            Ok(0)
        }
        _ => Ok(0),
    }
}
