//! `c` in `watch`: `git agent clean`, as typed: its dry run shown (what would be removed, and
//! what is kept and why), a `y`, then `git agent clean --yes` limited to the sessions that were
//! shown as removable. Invariants: never `--all`, never a force flag, and nothing is removed
//! that the user was not shown; `clean` checks every rule again when it removes (a session
//! that changed meanwhile stays, and is reported).

use std::path::Path;

use serde_json::Value;

use super::actions::{failed, git_agent, stderr_lines, text};
use super::{App, Mode, Outcome, error_line};

/// The verdicts of `git agent clean --json ARGS`, or what it printed instead.
fn clean(cwd: &Path, args: &[&str]) -> Result<Value, Vec<String>> {
    let mut all = vec!["clean", "--json"];
    all.extend_from_slice(args);
    let out = match git_agent(cwd, &all).and_then(|c| c.output()) {
        Ok(out) => out,
        Err(err) => return Err(vec![error_line(&err)]),
    };
    serde_json::from_slice(&out.stdout).map_err(|_| stderr_lines(&out.stderr))
}

/// `c`: the dry run; removable sessions are asked about (y/N); where there are none, why
/// each session is kept.
pub fn inspect(app: &mut App) {
    let doc = match clean(&app.cwd, &["--dry-run"]) {
        Ok(doc) => doc,
        Err(lines) => return app.show(failed("cannot clean".into(), lines)),
    };
    let sessions = doc["sessions"].as_array().cloned().unwrap_or_default();
    let names: Vec<String> = sessions
        .iter()
        .filter(|v| !v["remove"].is_null())
        .map(|v| text(&v["name"]).to_owned())
        .collect();
    let mut lines = Vec::new();
    if !names.is_empty() {
        lines.push("Would remove (their worktrees; their branches are kept):".to_owned());
        for v in sessions.iter().filter(|v| !v["remove"].is_null()) {
            lines.push(format!("  {} ({})", text(&v["name"]), text(&v["remove"])));
        }
    }
    let kept: Vec<&Value> = sessions.iter().filter(|v| !v["keep"].is_null()).collect();
    if !kept.is_empty() {
        lines.push("Kept:".to_owned());
        for v in kept {
            lines.push(format!("  {}: {}", text(&v["name"]), text(&v["keep"])));
        }
    }
    if names.is_empty() {
        if lines.is_empty() {
            app.message = Some("Nothing to clean.".into());
            return;
        }
        lines.push(String::new());
        lines.push("(any key closes this)".into());
        app.mode = Mode::Notice {
            title: "nothing to clean".into(),
            lines,
        };
        return;
    }
    app.mode = Mode::ConfirmClean { names, lines };
}

/// `y` to the dry run: `git agent clean --yes NAME…`, the names shown, nothing else.
pub fn start(app: &mut App, names: Vec<String>) {
    let cwd = app.cwd.clone();
    app.spawn("cleaning".into(), move || {
        let mut args = vec!["--yes"];
        args.extend(names.iter().map(String::as_str));
        let doc = match clean(&cwd, &args) {
            Ok(doc) => doc,
            Err(lines) => return failed("cannot clean".into(), lines),
        };
        let done = doc["done"].as_array().cloned().unwrap_or_default();
        let removed: Vec<&str> = done
            .iter()
            .filter(|d| d["error"].is_null())
            .map(|d| text(&d["name"]))
            .collect();
        let refused: Vec<String> = done
            .iter()
            .filter(|d| !d["error"].is_null())
            .map(|d| format!("kept {}: {}", text(&d["name"]), text(&d["error"])))
            .collect();
        let line = if removed.is_empty() {
            "Nothing removed.".to_owned()
        } else {
            format!("Removed {}; branches kept.", removed.join(", "))
        };
        if refused.is_empty() {
            return Outcome::Line(line);
        }
        let mut lines = vec![line];
        lines.extend(refused);
        lines.push(String::new());
        lines.push("(any key closes this)".into());
        Outcome::Notice {
            title: "clean".into(),
            lines,
        }
    });
}
