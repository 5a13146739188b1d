//! The user's side of [`Ctx`]: the repository as a command finds it (with git's colour
//! settings applied), questions (`confirm`, `select`) and progress bars.
//!
//! The one module that talks to the terminal's widgets (dialoguer, indicatif): commands and the
//! other binaries go through these methods, so whether a question may be asked
//! ([`can_prompt`]) and when a bar is drawn is decided in one place. The library below
//! `commands/` never asks and never draws.

use std::io::IsTerminal as _;

use anyhow::Result;

use super::Ctx;
use crate::git::repo::Repo;
use crate::ui;

/// True if we may ask the user a question: stdin and stderr are terminals and
/// `GIT_AGENT_NONINTERACTIVE` is not set.
pub fn can_prompt() -> bool {
    std::env::var_os("GIT_AGENT_NONINTERACTIVE").is_none_or(|v| v.is_empty() || v == "0")
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal()
}

impl Ctx<'_> {
    /// The repository the command was started in (or `GIT_DIR` names). Its git config decides
    /// the colours (`color.agent`, `color.ui`, `color.pager`) unless `--color` or the
    /// environment did: see [`crate::ui`].
    pub fn repo(&self) -> Result<Repo> {
        let repo = Repo::discover(&self.cwd)?;
        if !ui::colors_decided() {
            let config = repo.gix().config_snapshot();
            let string = |key: &str| config.string(key).map(|v| v.to_string());
            ui::apply_color_config(
                string("color.agent").as_deref(),
                string("color.ui").as_deref(),
                config.boolean("color.pager"),
            );
        }
        Ok(repo)
    }

    /// True if a question may be asked (see [`can_prompt`]).
    pub fn can_prompt(&self) -> bool {
        can_prompt()
    }

    /// True if a menu may be shown: a question may be asked and stdout is a terminal too.
    pub fn can_show_menu(&self) -> bool {
        can_prompt() && std::io::stdout().is_terminal()
    }

    /// Asks a yes/no question on the terminal; `default` is the answer to a bare Enter.
    /// Callers check [`Ctx::can_prompt`] first.
    pub fn confirm(&mut self, prompt: &str, default: bool) -> Result<bool> {
        Ok(dialoguer::Confirm::new()
            .with_prompt(prompt)
            .default(default)
            .interact()?)
    }

    /// Lets the user pick one of `items` (starting on `default`); `None` if they escaped.
    /// Callers check [`Ctx::can_show_menu`] first.
    pub fn select<T: std::fmt::Display>(
        &mut self,
        prompt: &str,
        items: &[T],
        default: usize,
    ) -> Result<Option<usize>> {
        Ok(dialoguer::Select::new()
            .with_prompt(prompt)
            .items(items)
            .default(default)
            .interact_opt()?)
    }

    /// A progress bar on stderr for work on `len` sessions, `verb` naming the work
    /// ("removing"). Drawn only for two or more, on a terminal where questions may be asked
    /// (not with `GIT_AGENT_NONINTERACTIVE`); otherwise its methods do nothing.
    pub fn progress(&self, len: usize, verb: &str) -> Progress {
        if len < 2 || !can_prompt() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(len as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{verb} {{pos}}/{{len}} {{bar:30}} {{msg}}"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Progress(Some(bar))
    }
}

/// A progress bar from [`Ctx::progress`], or nothing where none is drawn.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// Item `position` (from 0) is being worked on; `label` names it.
    pub fn at(&self, position: usize, label: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(label.to_owned());
            bar.set_position(position as u64);
        }
    }

    /// One more item is done; `label` says which (or how it went).
    pub fn step(&self, label: &str) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
            bar.set_message(label.to_owned());
        }
    }

    /// The work is over: the bar goes away.
    pub fn finish(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}
