//! The remote log as it reaches the supervisor here: the lines of this run only, without
//! what is not the agent's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The remote session's raw log, from its start: the first `skip` lines (older than this
/// run, or already here) are dropped, and so is the complaint git makes inside the remote
/// sandbox whenever it deletes a ref (it cannot lock `packed-refs` there; the commit
/// succeeds): the remote supervisor keeps it out of what it parses, and so must we, or it
/// could become the run's result (see `supervisor::run`). `seen` counts the whole lines read.
///
/// The skipping is done here rather than over there: `tail -n +N` (and `mawk`) hold their
/// output back while they write into (or read from) a pipe, and nothing would arrive here
/// before the run's end.
pub(super) struct DropSandboxNoise<R> {
    lines: std::io::BufReader<R>,
    pending: Vec<u8>,
    at: usize,
    skip: u64,
    seen: Arc<AtomicU64>,
}

impl<R: std::io::Read> DropSandboxNoise<R> {
    pub(super) fn new(inner: R, skip: u64, seen: Arc<AtomicU64>) -> Self {
        seen.store(0, Ordering::SeqCst);
        Self {
            lines: std::io::BufReader::new(inner),
            pending: Vec::new(),
            at: 0,
            skip,
            seen,
        }
    }

    fn is_noise(line: &[u8]) -> bool {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end();
        line.starts_with("error: Unable to create '")
            && line.ends_with("/packed-refs.lock': Permission denied")
    }
}

impl<R: std::io::Read> std::io::Read for DropSandboxNoise<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead as _;
        while self.at >= self.pending.len() {
            self.pending.clear();
            self.at = 0;
            if self.lines.read_until(b'\n', &mut self.pending)? == 0 {
                return Ok(0);
            }
            let before = if self.pending.ends_with(b"\n") {
                self.seen.fetch_add(1, Ordering::SeqCst)
            } else {
                self.seen.load(Ordering::SeqCst)
            };
            if before < self.skip || Self::is_noise(&self.pending) {
                self.pending.clear();
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_sandbox_complaint_is_dropped_and_nothing_else() {
        use std::io::Read as _;
        let log = "one\nerror: Unable to create '/r/.git/packed-refs.lock': Permission denied\n\
                   error: Unable to create '/r/x.lock': Permission denied\nlast";
        let mut out = String::new();
        let seen = Arc::new(AtomicU64::new(7));
        DropSandboxNoise::new(log.as_bytes(), 0, Arc::clone(&seen))
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(
            out,
            "one\nerror: Unable to create '/r/x.lock': Permission denied\nlast"
        );
        // The last line has no end yet: it is not counted (it comes again on a reconnect).
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        out.clear();
        DropSandboxNoise::new(log.as_bytes(), 2, Arc::clone(&seen))
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(
            out,
            "error: Unable to create '/r/x.lock': Permission denied\nlast"
        );
    }
}
