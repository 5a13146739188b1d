//! The keys of `watch` that run a whole command: `enter` (`git agent review`), `m` (`git
//! agent merge`), `n` (`git agent new`), and `v` (verify, [`crate::ops::verify`] as `review
//! --verify` runs it).
//!
//! Review and merge live in their own binaries (`git-agent-review`, `git-agent-merge`), so
//! watch runs them as `git agent …` subprocesses: the same code path, refusals and messages
//! as the command typed. Invariants: a merge is never forced and never discards the other
//! variants (no `--force`, no `--discard-others`), and it runs only after its dry run was
//! shown and the user said `y`; a verify command from the repository (`.git-agent.toml`) runs
//! only once approved, as `git agent trust` approves it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use super::{App, Mode, Outcome, error_line};
use crate::ops::verify;
use crate::process::{Cmd, describe_status, git_agent_exe};
use crate::project::{Approvals, ProjectCommand};

/// `git agent ARGS` in `cwd`, through our own executable (which hands `review` and `merge` to
/// their binaries, as git's dispatch would).
pub fn git_agent<I, S>(cwd: &Path, args: I) -> Result<Cmd>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Ok(Cmd::new(git_agent_exe()?).args(args).current_dir(cwd))
}

/// `enter`: `git agent review NAME` on the user's terminal (its pager included), watch's
/// screen given up meanwhile (the caller suspends and restores it). A failed review leaves its
/// message on the screen until the user presses enter.
pub fn review(cwd: &Path, name: &str) -> String {
    let status = git_agent(cwd, ["review", name]).and_then(|c| c.status_interactive());
    match status {
        Ok(s) if s.success() => format!("Reviewed {name}."),
        Ok(s) => {
            let how = describe_status(s);
            // Raw mode is off: the user reads what review said, then presses enter.
            let mut tty = std::io::stderr();
            let _ = writeln!(
                tty,
                "\ngit agent review {name}: {how}. Press enter to go back to watch."
            );
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            format!("error: git agent review {name}: {how}")
        }
        Err(err) => error_line(&err),
    }
}

/// `v`: the verify command of the selected session, as `git agent review NAME --verify`
/// finds it; one from the repository not yet approved is asked about first.
pub fn verify(app: &mut App) {
    let Some(row) = app.selected_row() else {
        return;
    };
    let session = row.session.clone();
    if let Err(err) = verify::check_ready(&session) {
        app.message = Some(error_line(&err));
        return;
    }
    let mut unapproved: Option<ProjectCommand> = None;
    let found = verify::command(&app.repo, &session, |commands| {
        let key = crate::commands::trust::repo_key(&app.repo);
        let approvals = Approvals::load()?;
        if let Some(c) = commands.iter().find(|c| !approvals.is_approved(&key, c)) {
            unapproved = Some(c.clone());
            anyhow::bail!("not approved");
        }
        Ok(())
    });
    match (found, unapproved) {
        (Ok((command, source)), _) => start_verify(app, session.name, command, source),
        (Err(_), Some(command)) => {
            app.mode = Mode::ConfirmTrust {
                name: session.name,
                command,
            };
        }
        (Err(err), None) => app.message = Some(error_line(&err)),
    }
}

/// `y` to the approval question: remembered, as `git agent trust` remembers it, then run.
pub fn approve_and_verify(app: &mut App, name: String, command: ProjectCommand) {
    let key = crate::commands::trust::repo_key(&app.repo);
    let approved =
        Approvals::load().and_then(|mut a| a.approve(&key, std::slice::from_ref(&command)));
    match approved {
        Ok(()) => start_verify(app, name, command.text, "project"),
        Err(err) => app.message = Some(error_line(&err)),
    }
}

fn start_verify(app: &mut App, name: String, command: String, source: &'static str) {
    let state = app.state.clone();
    app.spawn(format!("verifying {name}"), move || {
        let ran = state
            .load(&name)
            .and_then(|s| verify::run(&state, &s, &s.worktree, &command, source, |_| {}));
        match ran {
            Ok(v) => verify::summary(&name, &v),
            Err(err) => format!("{name}: {}", error_line(&err)),
        }
    });
}

/// The one step of `git agent merge NAME --json` (its document's `steps[0]`), or the error it
/// printed (stderr) when it printed no document.
fn merge_step(cwd: &Path, name: &str, dry_run: bool) -> Result<Value, Vec<String>> {
    // Never --force, never --discard-others: what is not merged stays.
    let mut args = vec!["merge", name, "--json"];
    if dry_run {
        args.push("--dry-run");
    }
    let out = match git_agent(cwd, &args).and_then(|c| c.output()) {
        Ok(out) => out,
        Err(err) => return Err(vec![error_line(&err)]),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let doc: Option<Value> = serde_json::from_slice(&out.stdout).ok();
    match doc.map(|d| d["steps"][0].clone()).filter(|s| !s.is_null()) {
        Some(step) => Ok(step),
        None => Err(stderr.lines().map(str::to_owned).collect()),
    }
}

pub fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// A refused merge, as `merge` reports it: why, the paths (the conflicts), the hints.
fn refusal(step: &Value) -> Outcome {
    let name = text(&step["session"]);
    let paths: Vec<&str> = strings(&step["paths"]).collect();
    let why = text(&step["why"]);
    let mut lines = vec![if paths.is_empty() {
        format!("error: {name}: {why}")
    } else {
        format!("error: {name}: {why} in:")
    }];
    lines.extend(paths.iter().map(|p| format!("    {p}")));
    lines.extend(strings(&step["hints"]).map(|h| format!("hint: {h}")));
    lines.push(String::new());
    lines.push("Nothing merged (watch never forces; any key closes this).".into());
    Outcome::Notice {
        title: format!("cannot merge {name}"),
        lines,
    }
}

/// The dry run as `merge --dry-run` words it.
fn plan_lines(p: &Value, cwd: &Path) -> Vec<String> {
    let (into, strategy) = (text(&p["into"]), text(&p["strategy"]));
    let ff = p["fast_forward"] == true && strategy != "squash" && strategy != "merge";
    let how = if ff {
        format!("{strategy}, a fast-forward")
    } else {
        strategy.to_owned()
    };
    let mut lines = vec![format!(
        "Would merge {} into {into} ({how}), cleanly:",
        text(&p["session"])
    )];
    if p["uncommitted"] == true {
        lines.push("  after committing the uncommitted changes in its worktree".into());
    }
    lines.extend(strings(&p["commits"]).map(|c| format!("  {c}")));
    let files = p["files"].as_array().map_or(0, Vec::len);
    lines.push(format!(
        "  {files} file{} changed, +{} -{}",
        if files == 1 { "" } else { "s" },
        p["insertions"],
        p["deletions"]
    ));
    lines.push(match p["checkout"].as_str() {
        Some(dir) => format!(
            "  {into} is checked out in {}: it would move with it",
            crate::ui::short_path(&PathBuf::from(dir), cwd)
        ),
        None => format!("  only the ref {into} would move"),
    });
    if p["keep"] != true {
        lines.push("  then its worktree would be removed (its branch kept)".into());
    }
    lines
}

/// `m`: the dry run of `git agent merge NAME`; a clean one is asked about (y/N), a refused
/// one shown (its conflicts listed).
pub fn inspect_merge(app: &mut App) {
    let Some(name) = app.selected.clone() else {
        return;
    };
    match merge_step(&app.cwd, &name, true) {
        Ok(step) => match text(&step["result"]) {
            "planned" => {
                let lines = plan_lines(&step, &app.cwd);
                app.mode = Mode::ConfirmMerge { name, lines };
            }
            "refused" => app.show(refusal(&step)),
            "already-merged" => {
                app.message = Some(format!(
                    "{name}: its work is already in {}; nothing to merge",
                    text(&step["into"])
                ));
            }
            other => app.message = Some(format!("{name}: merge --dry-run said {other}")),
        },
        Err(lines) => app.show(failed(format!("cannot merge {name}"), lines)),
    }
}

/// What a command printed when it printed no document (a fatal error and its hints): one
/// line on the status line, more in a box titled `title`.
pub fn failed(title: String, mut lines: Vec<String>) -> Outcome {
    if lines.len() <= 1 {
        return Outcome::Line(lines.pop().unwrap_or_else(|| format!("error: {title}")));
    }
    lines.push(String::new());
    lines.push("(any key closes this)".into());
    Outcome::Notice { title, lines }
}

/// `y` to the dry run: `git agent merge NAME` (never forced), its outcome shown.
pub fn start_merge(app: &mut App, name: String) {
    let cwd = app.cwd.clone();
    app.spawn(format!("merging {name}"), move || {
        match merge_step(&cwd, &name, false) {
            Ok(step) => match text(&step["result"]) {
                "merged" | "already-merged" => Outcome::Line(format!(
                    "Merged {name} into {} ({}): {}",
                    text(&step["into"]),
                    text(&step["strategy"]),
                    crate::session::short_id(text(&step["commit"]))
                )),
                "refused" => refusal(&step),
                other => Outcome::Line(format!("{name}: merge said {other}")),
            },
            Err(lines) => failed(format!("cannot merge {name}"), lines),
        }
    });
}

/// `n` (the input line given): `git agent new -m PROMPT` with the default profile; the new
/// session is selected.
pub fn start_new(app: &mut App, prompt: String) {
    if prompt.trim().is_empty() {
        app.message = Some("error: no task given; nothing started".into());
        return;
    }
    let cwd = app.cwd.clone();
    app.spawn("starting a new session".into(), move || {
        let run =
            git_agent(&cwd, ["new", "--json", "-m", prompt.as_str()]).and_then(|c| c.output());
        let out = match run {
            Ok(out) => out,
            Err(err) => return Outcome::Line(error_line(&err)),
        };
        let doc: Option<Value> = serde_json::from_slice(&out.stdout).ok();
        let names: Vec<String> = doc
            .iter()
            .flat_map(|d| d["sessions"].as_array().cloned().unwrap_or_default())
            .filter_map(|s| s["name"].as_str().map(str::to_owned))
            .collect();
        match names.first() {
            Some(first) => Outcome::Select {
                name: first.clone(),
                line: format!("Started {}", names.join(", ")),
            },
            None => failed("cannot start the session".into(), stderr_lines(&out.stderr)),
        }
    });
}

pub fn stderr_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(str::to_owned)
        .collect()
}
