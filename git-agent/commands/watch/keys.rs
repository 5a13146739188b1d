//! What each key of `watch` does. The actions are their commands' code paths
//! ([`crate::ops`], or the command itself run by [`actions`]) with their refusals; their
//! outcomes are the commands' lines.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Input, Mode, actions, clean, error_line};
use crate::git::merging::Memory;
use crate::git::repo::Repo;
use crate::ops::remove;
use crate::ops::stop::stop_session;

pub fn handle(app: &mut App, key: KeyEvent) {
    app.dirty = true;
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        app.quit = true;
        return;
    }
    match std::mem::replace(&mut app.mode, Mode::Normal) {
        Mode::Normal => normal(app, key),
        // Any key closes them.
        Mode::Help | Mode::Notice { .. } => {}
        Mode::Input { kind, text } => input(app, key, kind, text),
        Mode::ConfirmRemove { name, .. } => {
            if key.code == KeyCode::Char('y') {
                start_remove(app, name);
            } else {
                app.message = Some(format!("{name} kept."));
            }
        }
        Mode::ConfirmMerge { name, .. } => {
            if key.code == KeyCode::Char('y') {
                actions::start_merge(app, name);
            } else {
                app.message = Some(format!("{name} not merged."));
            }
        }
        Mode::ConfirmClean { names, .. } => {
            if key.code == KeyCode::Char('y') {
                clean::start(app, names);
            } else {
                app.message = Some("Nothing removed.".into());
            }
        }
        Mode::ConfirmTrust { name, command } => {
            if key.code == KeyCode::Char('y') {
                actions::approve_and_verify(app, name, command);
            } else {
                app.message = Some(format!(
                    "error: the {} command of {} was not approved (hint: review and approve \
                     it with 'git agent trust')",
                    command.what, command.source
                ));
            }
        }
    }
}

fn normal(app: &mut App, key: KeyEvent) {
    match key.code {
        KeyCode::Char('q') => app.quit = true,
        KeyCode::Down | KeyCode::Char('j') => step(app, 1),
        KeyCode::Up | KeyCode::Char('k') => step(app, -1),
        KeyCode::Char('w') => next_needing_user(app),
        KeyCode::Char('?') => app.mode = Mode::Help,
        KeyCode::Char('/') => {
            app.mode = Mode::Input {
                kind: Input::Filter,
                text: app.filter.clone(),
            };
        }
        KeyCode::Esc => {
            app.message = None;
            if !app.filter.is_empty() {
                app.filter.clear();
                reload(app);
            }
        }
        KeyCode::Char('x') => stop(app),
        KeyCode::Char('s') => {
            if let Some(name) = app.selected.clone() {
                app.mode = Mode::Input {
                    kind: Input::Send(name),
                    text: String::new(),
                };
            }
        }
        KeyCode::Char('d') => inspect_removal(app),
        KeyCode::Enter => app.review = app.selected.clone(),
        KeyCode::Char('v') => actions::verify(app),
        KeyCode::Char('m') => actions::inspect_merge(app),
        KeyCode::Char('c') => clean::inspect(app),
        KeyCode::Char('n') => {
            app.mode = Mode::Input {
                kind: Input::New,
                text: String::new(),
            };
        }
        _ => {}
    }
}

fn reload(app: &mut App) {
    if let Err(err) = app.reload() {
        app.message = Some(error_line(&err));
    }
}

/// Moves the selection by `by` sessions (headers are skipped: they are not rows).
fn step(app: &mut App, by: isize) {
    let len = app.sessions.rows.len();
    if len == 0 {
        return;
    }
    let at = app.selected_index().unwrap_or(0);
    let to = at.saturating_add_signed(by).min(len - 1);
    app.selected = Some(app.sessions.rows[to].session.name.clone());
}

/// The next session after the selected one, in display order and wrapping around, that needs
/// the user ([`crate::session::State::needs_user`]: what `list` puts first).
fn next_needing_user(app: &mut App) {
    let rows = &app.sessions.rows;
    let start = app.selected_index().map_or(0, |i| i + 1);
    let found = (0..rows.len())
        .map(|k| (start + k) % rows.len())
        .find(|&i| rows[i].state.needs_user());
    match found {
        Some(i) => app.selected = Some(rows[i].session.name.clone()),
        None => app.message = Some("No session needs you.".into()),
    }
}

fn input(app: &mut App, key: KeyEvent, kind: Input, mut text: String) {
    match key.code {
        KeyCode::Esc => {}
        KeyCode::Enter => match kind {
            Input::Filter => {
                app.filter = text.trim().to_owned();
                reload(app);
            }
            Input::Send(name) => send(app, name, text),
            Input::New => actions::start_new(app, text),
        },
        KeyCode::Backspace => {
            text.pop();
            app.mode = Mode::Input { kind, text };
        }
        KeyCode::Char(c) => {
            text.push(c);
            app.mode = Mode::Input { kind, text };
        }
        _ => app.mode = Mode::Input { kind, text },
    }
}

/// `s`: [`crate::ops::send::deliver`], as `git agent send`; to a running agent the message is
/// queued (delivered when its run ends), as `send --queue` does.
fn send(app: &mut App, name: String, text: String) {
    if text.trim().is_empty() {
        app.message = Some("error: no message given; nothing sent".into());
        return;
    }
    let queue = app
        .sessions
        .rows
        .iter()
        .find(|r| r.session.name == name)
        .is_some_and(|r| r.state.is_active());
    let cwd = app.cwd.clone();
    app.spawn(format!("sending to {name}"), move || {
        let sent = Repo::discover(&cwd)
            .and_then(|repo| crate::ops::send::deliver(&repo, &name, &text, queue));
        match sent {
            Ok(d) => console::strip_ansi_codes(&crate::ui::delivered(&d, &name)).into_owned(),
            Err(err) => error_line(&err),
        }
    });
}

/// `x`: [`stop_session`], as `git agent stop`, with its lines.
fn stop(app: &mut App) {
    let Some(row) = app.selected_row() else {
        return;
    };
    if !row.state.is_active() {
        app.message = Some(format!(
            "{} is not running ({})",
            row.session.name, row.state
        ));
        return;
    }
    let (state, session) = (app.state.clone(), row.session.clone());
    app.spawn(
        format!("stopping {}", session.name),
        move || match stop_session(&state, &session, None) {
            Ok(Some(ended)) => {
                let reason = ended
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                format!("{}: {}{reason}", ended.name, ended.state)
            }
            Ok(None) => format!("{} is not running", session.name),
            Err(err) => format!("{}: {}", session.name, error_line(&err)),
        },
    );
}

fn options() -> remove::Options {
    remove::Options {
        force: false,
        delete_branch: false,
        allow_unmerged: false,
        reason: "rm".into(),
        grace: None,
    }
}

/// `d`: what `git agent rm` would do, asked first; where `rm` would refuse (work would be
/// lost), the refusal is shown and nothing else happens. Watch never forces.
fn inspect_removal(app: &mut App) {
    let Some(row) = app.selected_row() else {
        return;
    };
    let name = row.session.name.clone();
    let inspected = remove::inspect(&app.repo, &Memory::new(&app.repo), &row.session);
    let i = match inspected {
        Ok(i) => i,
        Err(err) => {
            app.message = Some(error_line(&err));
            return;
        }
    };
    let force_flag = format!("git agent rm --force {name}");
    if let Some(refusal) = remove::refusal(&i, &options(), &force_flag) {
        let mut lines: Vec<String> = refusal.message.lines().map(str::to_owned).collect();
        lines.extend(refusal.hints.iter().map(|h| format!("hint: {h}")));
        lines.push(String::new());
        lines.push("Nothing removed (watch never forces; any key closes this).".into());
        app.mode = Mode::Notice {
            title: format!("cannot remove {name}"),
            lines,
        };
        return;
    }
    let mut what = Vec::new();
    if i.alive {
        what.push("stop its agent (it is running)".to_owned());
    }
    what.push(if i.worktree_missing {
        format!("its worktree {} is already gone", i.worktree.display())
    } else {
        format!("remove the worktree {}", i.worktree.display())
    });
    if i.branch_tip.is_some() {
        what.push(format!(
            "keep the branch {} ({})",
            i.branch,
            i.branch_words()
        ));
    }
    app.mode = Mode::ConfirmRemove { name, what };
}

fn start_remove(app: &mut App, name: String) {
    let cwd = app.cwd.clone();
    app.spawn(format!("removing {name}"), move || {
        let removed = Repo::discover(&cwd).and_then(|repo| {
            let s = repo.state().load(&name)?;
            let force_flag = format!("git agent rm --force {name}");
            remove::remove(&repo, &s, &options(), &force_flag)
        });
        match removed {
            Ok(outcome) => crate::commands::rm::removed_line(&outcome, &cwd),
            Err(err) => error_line(&err),
        }
    });
}
