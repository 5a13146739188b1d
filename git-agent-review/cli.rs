//! The `git-agent-review` command line and what each mode does.

use std::path::PathBuf;

use clap::Parser as _;
use git_agent::cli::review::Cli;

use anyhow::Result;
use git_agent::commands::{Ctx, Format};
use git_agent::error::{Failure, code};
use git_agent::git::repo::Repo;
use git_agent::session::{Session, short_id};
use git_agent::state::rounds::{self, Comment};
use git_agent::ui;
use serde::Serialize;

use crate::{ai, compare, diff, edit, interactive, judge};
use git_agent::ops::verify;

/// `review NAME --verify --json`.
#[derive(Serialize)]
struct VerifyDoc<'a> {
    session: &'a str,
    verify: &'a git_agent::session::Verify,
}

/// `review NAME --json`: the session's whole result against its base.
#[derive(Serialize)]
struct ResultDoc<'a> {
    session: &'a str,
    branch: &'a str,
    base: BaseDoc<'a>,
    head: &'a str,
    tree: &'a str,
    files: &'a [diff::FileChange],
    totals: Totals,
    notes: &'a [String],
}

/// The base in `review --json`: the recorded commit, the base's commit now, and the merge-base
/// the result is compared with.
#[derive(Serialize)]
struct BaseDoc<'a> {
    #[serde(rename = "ref")]
    ref_name: Option<&'a str>,
    recorded: &'a str,
    now: &'a str,
    merge_base: &'a str,
}

#[derive(Serialize)]
struct Totals {
    files: usize,
    insertions: u64,
    deletions: u64,
}

/// `review A --against B --json`: from A's result to B's.
#[derive(Serialize)]
struct BetweenDoc<'a> {
    a: Side<'a>,
    b: Side<'a>,
    files: &'a [diff::FileChange],
}

/// One side of [`BetweenDoc`].
#[derive(Serialize)]
struct Side<'a> {
    session: &'a str,
    tree: &'a str,
    head: &'a str,
}

impl<'a> Side<'a> {
    fn of(s: &'a Session, r: &'a diff::Result_) -> Self {
        Side {
            session: &s.name,
            tree: &r.tree,
            head: &r.head,
        }
    }
}

/// `review --compare --json` (or `--group`): the variants, best first.
#[derive(Serialize)]
struct CompareDoc<'a> {
    group: Option<&'a str>,
    sessions: &'a [compare::Entry],
    #[serde(skip_serializing_if = "Option::is_none")]
    judge: Option<&'a judge::Judged>,
}

pub fn run(ctx: &mut Ctx<'_>, cli: Cli) -> Result<u8> {
    let repo = ctx.repo()?;
    if cli.ai_judge && cli.group.is_none() && !cli.compare {
        return Err(Failure::usage("--ai-judge ranks the variants of a group")
            .hint("git agent review --group GROUP --ai-judge  (or --compare A B… --ai-judge)")
            .into());
    }
    if cli.group.is_some() || cli.compare {
        if cli.agent.is_some() && !cli.ai_judge {
            return Err(Failure::usage("--agent names the judge of --ai-judge")
                .hint("git agent review --group GROUP --ai-judge --agent PROFILE")
                .into());
        }
        return run_compare(ctx, &repo, &cli);
    }
    let (name, other) = match (cli.names.as_slice(), &cli.against) {
        ([one], None) => (one.clone(), None),
        ([one], Some(b)) => (one.clone(), Some(b.clone())),
        ([a, b], None) => (a.clone(), Some(b.clone())),
        ([], _) => {
            return Err(Failure::usage("name the session to review")
                .hint("git agent review NAME  (see 'git agent list')")
                .into());
        }
        _ => {
            return Err(Failure::usage(
                "review takes one session, or two to compare their results",
            )
            .hint("to compare several, use --compare A B C… or --group GROUP")
            .into());
        }
    };
    if cli.agent.is_some() && !cli.ai {
        return Err(Failure::usage("--agent names the reviewer of --ai")
            .hint(format!("git agent review {name} --ai --agent PROFILE"))
            .into());
    }
    let state = repo.state();
    let s = state.load(&name)?;
    if let Some(b) = other {
        if cli.verify
            || cli.edit
            || cli.send
            || cli.ai
            || !cli.comment.is_empty()
            || cli.list_rounds
        {
            return Err(Failure::usage(
                "comparing two results takes no --verify, --ai, --comment, --edit or --send",
            )
            .into());
        }
        return show_between(ctx, &repo, &s, &state.load(&b)?, &cli);
    }

    let mut acted = false;
    let mut code = code::SUCCESS;
    if cli.list_rounds {
        list_rounds(ctx, &repo, &s)?;
        acted = true;
    }
    if cli.verify {
        verify::check_ready(&s)?;
        let (command, source) =
            verify::command(&repo, &s, |c| ctx.ensure_trusted(&repo, c, cli.trust, None))?;
        writeln!(ctx.err, "Verifying {}: {command}", s.name)?;
        let err = &mut *ctx.err;
        let result = verify::run(&state, &s, &s.worktree, &command, source, |line| {
            let _ = writeln!(err, "  {line}");
        })?;
        if cli.output.format() == Format::Json {
            ctx.write_doc(&VerifyDoc {
                session: &s.name,
                verify: &result,
            })?;
        } else {
            writeln!(ctx.out, "{}", verify::summary(&s.name, &result))?;
        }
        if !result.passed {
            code = code::NEGATIVE;
        }
        acted = true;
    }
    if cli.ai {
        let mut added = ai::run(ctx, &repo, &s, &cli)?;
        // --edit: the round as the reviewer left it, for the human to change before sending.
        if cli.edit && added > 0 {
            added = ai::edit_round(ctx, &repo, &s)?;
        }
        if added == 0 && cli.send {
            writeln!(ctx.err, "Nothing new to send.")?;
            return Ok(code);
        }
        acted = true;
    }
    if !cli.ai && (!cli.comment.is_empty() || cli.edit) {
        add_comments(ctx, &repo, &s, &cli)?;
        acted = true;
    }
    if cli.send {
        send_round(ctx, &repo, &s.name, cli.queue)?;
        acted = true;
    }
    if acted {
        return Ok(code);
    }
    show(ctx, &repo, &s, &cli)
}

/// A header for the reader (stderr: the diff itself may go to a pager).
fn header(ctx: &mut Ctx<'_>, s: &Session, r: &diff::Result_) -> Result<()> {
    let base = s.base.short_name();
    let uncommitted = if r.uncommitted {
        " with its uncommitted changes"
    } else {
        ""
    };
    writeln!(
        ctx.err,
        "{} {}{uncommitted}, against {base} @ {} (merge-base {})",
        ui::bold(&format!("Review of {}:", s.name)),
        s.branch,
        short_id(&r.base_now),
        short_id(&r.merge_base)
    )?;
    for note in &r.notes {
        writeln!(ctx.err, "note: {note}")?;
    }
    Ok(())
}

/// `git diff FROM TO`, as the user's git renders it (their pager, colors, diff tools).
fn render(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    dir: Option<&std::path::Path>,
    from: &str,
    to: &str,
    cli: &Cli,
) -> Result<()> {
    let mut cmd = match dir {
        Some(d) => git_agent::git::in_dir(d),
        None => repo.git(),
    };
    if let Some(color) = repo
        .config()
        .string("color.agent")
        .filter(|c| matches!(c.as_str(), "always" | "never"))
    {
        cmd = cmd.args(["-c", &format!("color.diff={color}")]);
    }
    cmd = cmd.arg("diff");
    if let Some(when) = &cli.color.color {
        cmd = cmd.arg(format!("--color={when}"));
    }
    if cli.stat {
        cmd = cmd.arg("--stat");
    }
    if cli.name_only {
        cmd = cmd.arg("--name-only");
    }
    ctx.out.flush()?;
    let status = cmd
        .args([from, to, "--"])
        .args(&cli.paths)
        .status_interactive()?;
    if !status.success() {
        return Err(Failure::fatal(format!(
            "git diff failed ({})",
            git_agent::process::describe_status(status)
        ))
        .into());
    }
    Ok(())
}

fn show(ctx: &mut Ctx<'_>, repo: &Repo, s: &Session, cli: &Cli) -> Result<u8> {
    let r = diff::result(repo, s)?;
    if cli.output.format() == Format::Json {
        let files = diff::files(repo, &r.merge_base, &r.tree, &cli.paths)?;
        ctx.write_doc(&ResultDoc {
            session: &s.name,
            branch: &s.branch,
            base: BaseDoc {
                ref_name: s.base.ref_name.as_deref(),
                recorded: &s.base.commit,
                now: &r.base_now,
                merge_base: &r.merge_base,
            },
            head: &r.head,
            tree: &r.tree,
            totals: Totals {
                files: files.len(),
                insertions: files.iter().map(|f| f.insertions).sum(),
                deletions: files.iter().map(|f| f.deletions).sum(),
            },
            files: &files,
            notes: &r.notes,
        })?;
        return Ok(0);
    }
    header(ctx, s, &r)?;
    let dir = s.worktree.is_dir().then_some(s.worktree.as_path());
    render(ctx, repo, dir, &r.merge_base, &r.tree, cli)?;
    if cli.no_menu || cli.stat || cli.name_only || !ctx.can_show_menu() {
        return Ok(0);
    }
    match interactive::after_diff(ctx, &s.name)? {
        interactive::Choice::Done(code) => Ok(code),
        interactive::Choice::RequestChanges => {
            let edited = Cli {
                edit: true,
                ..Cli::parse_from(["git-agent-review", &s.name])
            };
            if add_comments(ctx, repo, s, &edited)? > 0 {
                send_round(ctx, repo, &s.name, true)?;
            }
            Ok(0)
        }
    }
}

fn show_between(ctx: &mut Ctx<'_>, repo: &Repo, a: &Session, b: &Session, cli: &Cli) -> Result<u8> {
    let ra = diff::result(repo, a)?;
    let rb = diff::result(repo, b)?;
    if cli.output.format() == Format::Json {
        let files = diff::files(repo, &ra.tree, &rb.tree, &cli.paths)?;
        ctx.write_doc(&BetweenDoc {
            a: Side::of(a, &ra),
            b: Side::of(b, &rb),
            files: &files,
        })?;
        return Ok(0);
    }
    writeln!(
        ctx.err,
        "{}",
        ui::bold(&format!("From {}'s result to {}'s:", a.name, b.name))
    )?;
    for note in ra.notes.iter().chain(&rb.notes) {
        writeln!(ctx.err, "note: {note}")?;
    }
    render(ctx, repo, None, &ra.tree, &rb.tree, cli)?;
    Ok(0)
}

/// Adds `--comment`s and `--edit` comments to the open round; returns how many were added.
fn add_comments(ctx: &mut Ctx<'_>, repo: &Repo, s: &Session, cli: &Cli) -> Result<usize> {
    let r = diff::result(repo, s)?;
    let mut comments = Vec::new();
    for pair in cli.comment.chunks(2) {
        let [location, text] = pair else { continue };
        if text.trim().is_empty() {
            return Err(Failure::usage(format!("the comment on {location} is empty")).into());
        }
        let (path, line) = Comment::parse_location(location)?;
        let hunk = match (&path, line) {
            (Some(p), Some(l)) => diff::hunk_at(repo, &r.merge_base, &r.tree, p, l)?,
            _ => None,
        };
        comments.push(Comment {
            path,
            line,
            hunk,
            text: text.clone(),
        });
    }
    if cli.edit {
        let patch = diff::patch(repo, &r.merge_base, &r.tree, None, &cli.paths)?;
        let state = repo.state();
        let file: PathBuf = rounds::dir(&state, &s.name).join("EDIT_REVIEW.diff");
        std::fs::create_dir_all(file.parent().unwrap_or(&state.session_dir(&s.name)))?;
        std::fs::write(&file, edit::buffer(&s.name, &patch))?;
        let dir = if s.worktree.is_dir() {
            s.worktree.clone()
        } else {
            repo.common_dir().to_owned()
        };
        ctx.out.flush()?;
        edit::run_editor(&dir, &file)?;
        let edited = std::fs::read_to_string(&file)?;
        std::fs::remove_file(&file).ok();
        comments.extend(edit::parse(&edited));
    }
    if comments.is_empty() {
        writeln!(ctx.err, "No comments; nothing stored.")?;
        return Ok(0);
    }
    let added = comments.len();
    let (round, file) = rounds::add(&repo.state(), &s.name, comments)?;
    writeln!(
        ctx.out,
        "Review round {} of {}: {} comment(s) ({added} new), in {}",
        round.n,
        s.name,
        round.comments.len(),
        file.display()
    )?;
    if !cli.send {
        ctx.hint(&format!(
            "send them to the agent with: git agent review {} --send",
            s.name
        ))?;
    }
    Ok(added)
}

fn list_rounds(ctx: &mut Ctx<'_>, repo: &Repo, s: &Session) -> Result<()> {
    let all = rounds::list(&repo.state(), &s.name)?;
    if all.is_empty() {
        writeln!(ctx.err, "No review rounds for {} yet.", s.name)?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|r| {
            let status = match (r.status, r.run) {
                (rounds::Status::Open, _) => "open".to_owned(),
                (rounds::Status::Sent, Some(run)) => format!("sent (run {run})"),
                (rounds::Status::Sent, None) => "sent".to_owned(),
            };
            vec![
                r.n.to_string(),
                status,
                r.comments.len().to_string(),
                git_agent::time::format_timestamp(r.created),
                r.sent
                    .map_or_else(|| "-".into(), git_agent::time::format_timestamp),
            ]
        })
        .collect();
    write!(
        ctx.out,
        "{}",
        ui::table(&["ROUND", "STATUS", "COMMENTS", "CREATED", "SENT"], &rows)
    )?;
    Ok(())
}

fn run_compare(ctx: &mut Ctx<'_>, repo: &Repo, cli: &Cli) -> Result<u8> {
    let state = repo.state();
    let sessions: Vec<Session> = match &cli.group {
        Some(g) => {
            let mut members: Vec<Session> = ctx
                .sessions(&state)?
                .into_iter()
                .filter(|s| s.group.as_ref().is_some_and(|gr| &gr.id == g))
                .collect();
            members.sort_by_key(|s| s.group.as_ref().map_or(0, |gr| gr.index));
            if members.is_empty() {
                return Err(Failure::fatal(format!("no sessions in group '{g}'"))
                    .hint("groups come from git agent new -n N or --agent a,b; see 'git agent list --json'")
                    .into());
            }
            members
        }
        None => {
            if cli.names.len() < 2 {
                return Err(Failure::usage("--compare needs at least two sessions").into());
            }
            state.load_each(&cli.names)?
        }
    };
    let mut code = code::SUCCESS;
    if cli.verify {
        code = verify_many(ctx, repo, &sessions, cli)?;
    }
    // Reload: verify results were just recorded.
    let sessions: Vec<Session> = sessions
        .iter()
        .map(|s| state.load(&s.name))
        .collect::<Result<_>>()?;
    let entries = compare::entries(repo, &sessions)?;
    let judged = if cli.ai_judge {
        match judge::judge(ctx, repo, &sessions, &entries, cli.agent.as_deref()) {
            Ok(j) => Some(j),
            Err(err) => {
                // The table still helps; the judge's failure is said after it.
                if cli.output.format() != Format::Json {
                    write!(ctx.out, "{}", compare::table(&entries, None))?;
                }
                return Err(err);
            }
        }
    } else {
        None
    };
    if cli.output.format() == Format::Json {
        ctx.write_doc(&CompareDoc {
            group: cli.group.as_deref(),
            sessions: &entries,
            judge: judged.as_ref(),
        })?;
        return Ok(code);
    }
    write!(ctx.out, "{}", compare::table(&entries, judged.as_ref()))?;
    if let Some(j) = &judged {
        write!(ctx.out, "{}", judge::explain(j))?;
    }
    if !cli.no_menu && ctx.can_show_menu() {
        let mut names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
        // The judge's pick is offered first.
        let pick = judged.as_ref().and_then(|j| j.ranking.first());
        if let Some(first) = pick {
            names.sort_by_key(|n| n != &first.name);
        }
        return interactive::pick_winner(ctx, &names, pick.map(|p| p.name.as_str()));
    }
    Ok(code)
}

/// Verifies several sessions, `--jobs` at a time, with a line (or a progress bar on a
/// terminal) per session.
fn verify_many(ctx: &mut Ctx<'_>, repo: &Repo, sessions: &[Session], cli: &Cli) -> Result<u8> {
    for s in sessions {
        verify::check_ready(s)?;
    }
    // One approval question for all: they share the base's project file, usually.
    let mut commands = Vec::new();
    for s in sessions {
        commands.push(verify::command(repo, s, |c| {
            ctx.ensure_trusted(repo, c, cli.trust, None)
        })?);
    }
    let state = repo.state();
    let jobs = cli.jobs.max(1);
    let progress = ctx.progress(sessions.len(), "verifying");
    let mut results = Vec::new();
    for chunk in sessions
        .iter()
        .zip(&commands)
        .collect::<Vec<_>>()
        .chunks(jobs)
    {
        let chunk_results: Vec<Result<git_agent::session::Verify>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(s, (cmd, source))| {
                    let state = &state;
                    scope.spawn(move || verify::run(state, s, &s.worktree, cmd, source, |_| {}))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("verify panicked")))
                })
                .collect()
        });
        for ((s, _), result) in chunk.iter().zip(chunk_results) {
            let v = result?;
            progress.step(&verify::summary(&s.name, &v));
            results.push((s.name.clone(), v));
        }
    }
    progress.finish();
    let mut code = code::SUCCESS;
    for (name, v) in &results {
        writeln!(ctx.err, "{}", verify::summary(name, v))?;
        if !v.passed {
            code = code::NEGATIVE;
            for line in v.tail.iter().rev().take(5).rev() {
                writeln!(ctx.err, "    {line}")?;
            }
        }
    }
    Ok(code)
}

/// Sends the open review round to the agent (`--send`, or "request changes" in the menu).
fn send_round(ctx: &mut Ctx<'_>, repo: &Repo, name: &str, queue: bool) -> Result<()> {
    let sent = git_agent::ops::send::send_review(repo, name, queue, |d| {
        writeln!(ctx.out, "{}", git_agent::ui::delivered(d, name))?;
        Ok(())
    })?;
    writeln!(ctx.err, "{}", sent.summary())?;
    Ok(())
}
