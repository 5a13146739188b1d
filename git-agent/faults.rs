//! Crash points (and panic points) for the reliability tests.
//!
//! Built with the `test-fakes` feature (test builds only: `cargo install` leaves it out),
//! `GIT_AGENT_CRASH_AT=<point>` makes the process SIGKILL itself when it reaches `point`, as a
//! power cut or `kill -9` would at that moment. The tests then check that `git agent doctor`
//! finds a consistent state and that no work was lost. Without the feature this is nothing.

/// A place where a crash must leave nothing that `doctor` cannot explain.
#[inline]
pub fn point(name: &str) {
    #[cfg(feature = "test-fakes")]
    if std::env::var("GIT_AGENT_CRASH_AT").is_ok_and(|v| v == name) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    #[cfg(not(feature = "test-fakes"))]
    let _ = name;
}

/// A place where a test holds the process to order a race: built with `test-fakes`,
/// `GIT_AGENT_PAUSE_AT=<point>` waits there until the file `GIT_AGENT_PAUSE_FILE` exists (two
/// minutes at most), once it has added its pid to that file's name plus `.paused`. Without
/// the feature this is nothing.
#[inline]
pub fn pause_point(name: &str) {
    #[cfg(feature = "test-fakes")]
    if std::env::var("GIT_AGENT_PAUSE_AT").is_ok_and(|v| v == name)
        && let Some(file) = std::env::var_os("GIT_AGENT_PAUSE_FILE")
    {
        use std::io::Write as _;
        let mut paused = std::ffi::OsString::from(&file);
        paused.push(".paused");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(paused)
        {
            let _ = writeln!(f, "{}", std::process::id());
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !std::path::Path::new(&file).exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    #[cfg(not(feature = "test-fakes"))]
    let _ = name;
}

/// A place where a panic must leave the user's terminal as it was (`watch`): built with
/// `test-fakes`, `GIT_AGENT_PANIC_AT=<point>` panics there. Without the feature this is
/// nothing.
#[inline]
pub fn panic_point(name: &str) {
    #[cfg(feature = "test-fakes")]
    if std::env::var("GIT_AGENT_PANIC_AT").is_ok_and(|v| v == name) {
        panic!("a test asked for a panic at {name}");
    }
    #[cfg(not(feature = "test-fakes"))]
    let _ = name;
}
