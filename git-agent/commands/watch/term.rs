//! The terminal while `watch` runs: raw mode and the alternate screen (crossterm, through
//! ratatui), given back on every way out, a panic and a signal included.
//!
//! SIGTERM and SIGHUP (a `kill`, the terminal window or tmux pane closed) end watch as `q`
//! does, and it exits 128 + the signal's number, as git does ([`on_signal`]). After a hang-up
//! the terminal is gone and every write to it fails: those failures are ignored, and nothing
//! here prints about them (a print to a closed terminal panics).

use std::io::stdout;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};

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

/// Gives the terminal back (as [`leave`]) and drops `terminal` without its `Drop`, which
/// would show the cursor again and print (a panic, on a terminal that hung up) if it could
/// not.
pub fn close(terminal: ratatui::DefaultTerminal) {
    leave();
    std::mem::forget(terminal);
}

/// Gives the terminal back: raw mode off, the normal screen, the cursor shown. Harmless when
/// it was given back already (the panic hook and the way out both call it).
pub fn leave() {
    let _ = disable_raw_mode();
    if let Ok(mut out) = out() {
        let _ = execute!(out, LeaveAlternateScreen, Show);
    }
}

/// Standard output as a file of its own (a duplicate descriptor), unbuffered: [`leave`] runs
/// on the signal thread too, and `stdout()`'s lock is held by the main thread as long as the
/// command runs (`cli::run_binary`).
fn out() -> std::io::Result<std::fs::File> {
    use std::os::fd::AsFd as _;
    Ok(stdout().as_fd().try_clone_to_owned()?.into())
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
    let new = ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(stdout()))?;
    // The old one's `Drop` would show the cursor just hidden (see [`close`]).
    std::mem::forget(std::mem::replace(terminal, new));
    Ok(())
}

/// From now on SIGTERM and SIGHUP end watch as `q` does: a thread of `signal_hook`'s waits
/// for them, gives the terminal back, runs `cleanup` and exits 128 + the signal's number.
/// A thread rather than a flag the event loop reads: on a terminal that hung up, crossterm's
/// wait for a key never returns (it reads the end of the input again and again), and during
/// a review the loop waits for `git agent review`. The loop may still end first (a write to
/// the terminal that hung up failed): the [`Caught`] returned lets it exit as the thread would.
pub fn on_signal(cleanup: impl FnOnce() + Send + 'static) -> Result<Caught> {
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let caught = Arc::new(AtomicUsize::new(0));
    for sig in [SIGTERM, SIGHUP] {
        // Set in the handler itself, the moment the signal arrives.
        signal_hook::flag::register_usize(sig, Arc::clone(&caught), usize::try_from(sig)?)?;
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            // The file first (the terminal may be gone), then the terminal, then at once out:
            // the loop has no time to draw over the screen given back.
            cleanup();
            leave();
            std::process::exit(128 + sig);
        }
    });
    Ok(Caught(caught))
}

/// Whether SIGTERM or SIGHUP came (see [`on_signal`]).
pub struct Caught(Arc<AtomicUsize>);

impl Caught {
    /// 128 + the signal's number if one came. After a `failure` of the loop, a moment is
    /// given to the signal: a terminal that hangs up fails its writes just before it sends
    /// SIGHUP.
    pub fn exit_code(&self, failure: bool) -> Option<u8> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
        loop {
            match self.0.load(Ordering::SeqCst) {
                0 if failure && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                0 => return None,
                sig => return u8::try_from(128 + sig).ok(),
            }
        }
    }
}

/// SIGINT while watch has lent the terminal (a review and its pager, where Ctrl-C is the
/// terminal's, not a key): it is the lent command's, and must not end watch. Raised
/// otherwise (a `kill -INT`), it quits as `q` does. A handler, not SIG_IGN: a command
/// watch starts gets the default back when it runs.
pub struct Interrupt(Arc<std::sync::atomic::AtomicBool>);

impl Interrupt {
    pub fn catch() -> Result<Self> {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&flag))?;
        Ok(Self(flag))
    }

    /// Whether one came since the last look (and forgets it).
    pub fn came(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}
