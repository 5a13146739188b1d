//! The terminal while `watch` runs: raw mode and the alternate screen (crossterm, through
//! ratatui), given back on every way out, a panic included.

use std::io::stdout;
use std::sync::Once;

use anyhow::Result;
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

static PANIC_HOOK: Once = Once::new();

/// Takes the terminal: raw mode, the alternate screen. A panic from now on gives it back
/// before the panic message is printed (on the normal screen, where the user can read it).
pub fn enter() -> Result<ratatui::DefaultTerminal> {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            leave();
            previous(info);
        }));
    });
    enable_raw_mode()?;
    if let Err(err) = execute!(stdout(), EnterAlternateScreen) {
        leave();
        return Err(err.into());
    }
    let backend = ratatui::backend::CrosstermBackend::new(stdout());
    match ratatui::Terminal::new(backend) {
        Ok(terminal) => Ok(terminal),
        Err(err) => {
            leave();
            Err(err.into())
        }
    }
}

/// Gives the terminal back: raw mode off, the normal screen, the cursor shown. Harmless when
/// it was given back already (the panic hook and the way out both call it).
pub fn leave() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), LeaveAlternateScreen, Show);
}

/// Lends the terminal to a command (`git agent review` and its pager): as [`leave`] does.
pub fn suspend() {
    leave();
}

/// Takes the terminal back after [`suspend`]; everything is drawn again. A new `Terminal`
/// rather than `Terminal::clear`, which asks the terminal where its cursor is (a question
/// not every terminal answers).
pub fn resume(terminal: &mut ratatui::DefaultTerminal) -> Result<()> {
    enable_raw_mode()?;
    execute!(stdout(), EnterAlternateScreen, Clear(ClearType::All), Hide)?;
    *terminal = ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(stdout()))?;
    Ok(())
}
