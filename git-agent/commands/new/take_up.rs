//! `git agent new --continue CLI[:ID]` and `git agent fork`: a new session whose agent takes
//! up an existing conversation instead of starting from nothing. Everything that could stop
//! it (an unknown CLI, a profile of another CLI, a runner elsewhere, no conversation found)
//! is refused here, before anything is created or moved; `--fresh` starts afresh instead,
//! with the last turns of the conversation after the task.

use anyhow::Result;

use super::Args;
use crate::agents::Profile;
use crate::agents::conversations::{self, Cli, Conversation};
use crate::commands::{Ctx, Format};
use crate::error::Failure;
use crate::git::repo::Repo;
use crate::ops::create::Request;
use crate::ops::create::take_up::{self, TakeUp};
use crate::session::{RunnerRecord, Session};

/// `--continue CLI[:ID]`, parsed; refused with the flags it cannot go with.
pub(super) fn cli_to_continue(args: &Args) -> Result<Option<(Cli, Option<&str>)>> {
    let Some(value) = &args.continue_from else {
        return Ok(None);
    };
    let (name, id) = match value.split_once(':') {
        Some((name, id)) => (name, Some(id).filter(|id| !id.is_empty())),
        None => (value.as_str(), None),
    };
    let Some(cli) = Cli::parse(name) else {
        return Err(
            Failure::usage(format!("--continue: unknown agent CLI '{name}'"))
                .hint("use one of: claude, codex, gemini, opencode, aider (and :ID for one conversation)")
                .into(),
        );
    };
    let refuse = |flag: &str| -> anyhow::Error {
        Failure::usage(format!("--continue and {flag} cannot be used together")).into()
    };
    if args.in_session.is_some() {
        return Err(refuse("--in"));
    }
    if !args.command.is_empty() {
        return Err(refuse("a command after '--'"));
    }
    Ok(Some((cli, id)))
}

/// The profiles to run: `--agent`, else the profile named after the CLI continued.
pub(super) fn agents(args: &Args, continuing: Option<(Cli, Option<&str>)>) -> Vec<String> {
    match continuing {
        Some((cli, _)) if args.agent.is_empty() => vec![cli.name().to_owned()],
        _ => args.agent.clone(),
    }
}

/// The conversation to take up (or, with `--fresh`, the prompt with its last turns), found
/// and checked before anything is created.
pub(super) fn prepare(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    args: &Args,
    continuing: Option<(Cli, Option<&str>)>,
    profiles: &[(Profile, std::path::PathBuf, u32)],
    runner: Option<&RunnerRecord>,
    prompt: String,
) -> Result<(Option<TakeUp>, String)> {
    if let Some(fork) = &args.fork {
        refuse_runner(runner, "fork", "the conversation forked is on this machine")?;
        return Ok((Some(fork.take_up.clone()), prompt));
    }
    let Some((cli, id)) = continuing else {
        return Ok((None, prompt));
    };
    // The CLI's store as the first profile of that CLI would see it.
    let (program, env) = profiles
        .iter()
        .find(|(p, _, _)| Cli::of(p.format) == Some(cli))
        .map(|(p, program, _)| (program.to_string_lossy().into_owned(), p.env.clone()))
        .unwrap_or_else(|| (cli.name().to_owned(), Vec::new()));
    let stores = take_up::stores(&program, &env);
    let found = find(ctx, repo, cli, id, &stores)?;
    if args.fresh {
        let summary = conversations::summary(&found, &stores)?;
        let prompt = format!(
            "{prompt}\n\nThis task continues an earlier conversation with {}. Its last turns \
             were:\n\n{summary}",
            cli.name()
        );
        return Ok((None, prompt));
    }
    let fresh_hint =
        "or add --fresh to start afresh, with the conversation's last turns after the task";
    if let Some(r) = runner {
        return Err(Failure::fatal(format!(
            "--continue: the {} conversation is on this machine; runner '{}' cannot take it up",
            cli.name(),
            r.label()
        ))
        .hint(format!("use --runner local, {fresh_hint}"))
        .into());
    }
    for (profile, _, _) in profiles {
        let spec = profile.spec(std::path::PathBuf::from(&profile.program));
        let runs = take_up::cli_of(&spec, "--continue").ok();
        if runs != Some(cli) {
            return Err(Failure::fatal(format!(
                "--continue {}: profile '{}' cannot take up a {} conversation",
                cli.name(),
                profile.name,
                cli.name()
            ))
            .hint(format!("run it with --agent {}, {fresh_hint}", cli.name()))
            .into());
        }
    }
    Ok((Some(TakeUp::new("continue", found, None)), prompt))
}

fn refuse_runner(runner: Option<&RunnerRecord>, what: &str, why: &str) -> Result<()> {
    match runner {
        None => Ok(()),
        Some(r) => Err(Failure::fatal(format!(
            "{what}: {why}; runner '{}' cannot take it up",
            r.label()
        ))
        .hint("use --runner local (or set agent.runner=local for this command)")
        .into()),
    }
}

/// The CLI's conversation `id` (or its most recent) that belongs to this checkout: where the
/// user is, or the top of the checkout.
fn find(
    ctx: &Ctx<'_>,
    repo: &Repo,
    cli: Cli,
    id: Option<&str>,
    stores: &conversations::Stores,
) -> Result<Conversation> {
    let top = repo.workdir().ok_or_else(|| {
        Failure::fatal("--continue needs a checkout whose conversation to take up")
    })?;
    let dirs = take_up::dirs_of(&ctx.cwd, top);
    let mut found: Option<Conversation> = None;
    for dir in &dirs {
        let here = match id {
            Some(id) => conversations::find(cli, stores, Some(id), dir)?,
            None => conversations::latest(cli, stores, dir)?,
        };
        if let Some(c) = here
            && found.as_ref().is_none_or(|f| c.updated > f.updated)
        {
            found = Some(c);
        }
    }
    found.ok_or_else(|| {
        let what = match id {
            Some(id) => format!("no {} conversation '{id}'", cli.name()),
            None => format!("no {} conversation", cli.name()),
        };
        Failure::fatal(format!("--continue: {what} belongs to {}", top.display()))
            .hint(match id {
                Some(_) => format!(
                    "run 'git agent new --continue {}' from the checkout it was started in",
                    cli.name()
                ),
                None => format!(
                    "start one here with '{}' first, or name one with --continue {}:ID",
                    cli.name(),
                    cli.name()
                ),
            })
            .into()
    })
}

/// Said once the sessions started: whose conversation each took up, and that the original
/// stays where it was.
pub(super) fn tell(
    ctx: &mut Ctx<'_>,
    format: Format,
    request: &Request,
    started: &[Session],
) -> Result<()> {
    let Some(t) = &request.take_up else {
        return Ok(());
    };
    if format != Format::Human {
        return Ok(());
    }
    let what = take_up::describe(&t.conversation);
    for s in started {
        let note = match &t.from.session {
            Some(owner) => format!(
                "{} forks {owner}'s {what}; {owner} is untouched and still resumable",
                s.name
            ),
            None => format!(
                "{} takes up the {what} from {}; it stays resumable there",
                s.name,
                t.conversation.dir.display()
            ),
        };
        writeln!(ctx.err, "note: {note}")?;
    }
    Ok(())
}
