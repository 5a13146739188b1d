//! `review NAME --ai`: another agent reviews the session's result in its read-only mode
//! ([`git_agent::ops::ai_review`]); here, what the user sees: progress on stderr while it
//! runs, then its findings (or `--json`) and the round file they went into.

use anyhow::Result;
use git_agent::commands::{Ctx, Format};
use git_agent::error::Failure;
use git_agent::git::repo::Repo;
use git_agent::ops::{ai_review, ask};
use git_agent::session::Session;
use git_agent::state::rounds::{self, Comment, Round};
use serde::Serialize;

use crate::edit;
use git_agent::cli::review::Cli;

/// `review NAME --ai --json`.
#[derive(Serialize)]
struct Doc<'a> {
    session: &'a str,
    reviewer: &'a str,
    mode: &'a str,
    findings: Vec<FindingDoc<'a>>,
    /// The review round they went into and its file (none when nothing was found).
    round: Option<u32>,
    file: Option<String>,
}

#[derive(Serialize)]
struct FindingDoc<'a> {
    path: Option<&'a str>,
    line: Option<u32>,
    hunk: Option<&'a str>,
    text: &'a str,
}

/// A comment's text without the reviewer's mark.
fn said(c: &Comment) -> &str {
    match c.reviewer() {
        Some(_) => c.text.split_once("\n\n").map_or("", |(_, t)| t),
        None => &c.text,
    }
}

/// Runs the review; how many comments it added to the open round.
pub fn run(ctx: &mut Ctx<'_>, repo: &Repo, s: &Session, cli: &Cli) -> Result<usize> {
    if !cli.paths.is_empty() {
        return Err(Failure::usage("--ai reviews the whole result; it takes no paths").into());
    }
    if cli.output.format() == Format::Json && (cli.send || cli.edit) {
        return Err(Failure::usage("--ai --json shows the findings only")
            .hint(format!(
                "edit or send them afterwards: git agent review {} --edit --send",
                s.name
            ))
            .into());
    }
    let config = repo.config();
    let asker = ai_review::choose(&config, cli.agent.as_deref(), &[s.agent.profile.as_str()])?;
    let name = asker.profile.name.clone();
    let mode = asker.profile.permission_mode.clone().unwrap_or_default();
    let prepared = ai_review::prepare(repo, s, cli.uncommitted)?;
    let started = ask::start(&config, prepared.checkout.path(), &asker, &prepared.prompt)?;
    let what = if cli.uncommitted {
        "the uncommitted changes of"
    } else {
        "the whole branch of"
    };
    writeln!(
        ctx.err,
        "Asking {name} ({mode}) to review {what} {}; it reads a copy of the result and changes \
         nothing (sandbox: {}).",
        s.name, started.sandbox
    )?;
    if prepared.capped {
        writeln!(
            ctx.err,
            "note: the diff is over {} bytes: {name} gets its start and the names of the other files",
            ai_review::MAX_DIFF
        )?;
    }
    // Ctrl-C or SIGTERM ends the reviewer (`ask::Started::run` passes it on); we live on to
    // record the run and remove its checkout.
    let answer = ctx.ask(started, &name)?;
    let reviewed = match ai_review::conclude(repo, s, &asker, &prepared, &answer) {
        Ok(r) => r,
        Err(e) => {
            if answer.failure().is_none()
                && let Some(text) = answer.said().filter(|t| !t.trim().is_empty())
            {
                writeln!(ctx.err, "{name} answered:")?;
                for line in text.lines().take(40) {
                    writeln!(ctx.err, "  {line}")?;
                }
            }
            return Err(e);
        }
    };
    drop(prepared);
    show(ctx, s, cli, (&name, &mode), &reviewed)?;
    Ok(reviewed.comments.len())
}

/// `--ai --edit`: the open round, the reviewer's findings in it, in the editor (as a copy:
/// an editor that fails or a file that no longer reads as a round changes nothing); returns
/// how many comments it holds afterwards.
pub fn edit_round(ctx: &mut Ctx<'_>, repo: &Repo, s: &Session) -> Result<usize> {
    let state = repo.state();
    let Some(mut round) = rounds::open_round(&state, &s.name)? else {
        return Ok(0);
    };
    let file = state.session_dir(&s.name).join("EDIT_ROUND.md");
    std::fs::write(&file, round.to_markdown())?;
    let dir = if s.worktree.is_dir() {
        s.worktree.clone()
    } else {
        repo.common_dir().to_owned()
    };
    ctx.out.flush()?;
    let edited = edit::run_editor(&dir, &file).and_then(|()| Ok(std::fs::read_to_string(&file)?));
    std::fs::remove_file(&file).ok();
    let edited = Round::parse(&edited?).map_err(|e| {
        Failure::fatal(format!("the edited round no longer reads as one: {e:#}")).hint(
            "nothing was changed; edit it again with --ai --edit, or by hand in the round file",
        )
    })?;
    // Only its comments are the human's to change: its number, status and times stay ours.
    round.comments = edited.comments;
    let saved = rounds::save(&state, &round)?;
    writeln!(
        ctx.out,
        "Review round {} of {}: {} comment(s) after editing, in {}",
        round.n,
        s.name,
        round.comments.len(),
        saved.display()
    )?;
    Ok(round.comments.len())
}

/// The findings added (or `--json`), and the round they went into.
fn show(
    ctx: &mut Ctx<'_>,
    s: &Session,
    cli: &Cli,
    (name, mode): (&str, &str),
    reviewed: &ai_review::Reviewed,
) -> Result<()> {
    if cli.output.format() == Format::Json {
        ctx.write_doc(&Doc {
            session: &s.name,
            reviewer: name,
            mode,
            findings: reviewed
                .comments
                .iter()
                .map(|c| FindingDoc {
                    path: c.path.as_deref(),
                    line: c.line,
                    hunk: c.hunk.as_deref(),
                    text: said(c),
                })
                .collect(),
            round: reviewed.round.as_ref().map(|(r, _)| r.n),
            file: reviewed
                .round
                .as_ref()
                .map(|(_, f)| f.display().to_string()),
        })?;
        return Ok(());
    }
    let Some((round, file)) = &reviewed.round else {
        writeln!(ctx.out, "{name} found nothing to change in {}.", s.name)?;
        return Ok(());
    };
    writeln!(ctx.out, "{name} reviewed {}:", s.name)?;
    for c in &reviewed.comments {
        let mut lines = said(c).lines();
        writeln!(
            ctx.out,
            "  {}: {}",
            c.location(),
            lines.next().unwrap_or_default()
        )?;
        for line in lines {
            writeln!(ctx.out, "    {line}")?;
        }
    }
    writeln!(
        ctx.out,
        "Review round {} of {}: {} comment(s) ({} new), in {}",
        round.n,
        s.name,
        round.comments.len(),
        reviewed.comments.len(),
        file.display()
    )?;
    if !cli.send && !cli.edit {
        ctx.hint(&format!(
            "edit them with 'git agent review {0} --edit', send them with 'git agent review {0} --send'",
            s.name
        ))?;
    }
    Ok(())
}
