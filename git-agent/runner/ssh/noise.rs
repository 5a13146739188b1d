//! What the remote log says that is not the agent's: dropped before the supervisor here
//! parses it.

/// The remote log without the complaint git makes inside the remote sandbox whenever it
/// deletes a ref (it cannot lock `packed-refs` there; the commit succeeds): the remote
/// supervisor keeps it out of what it parses, and so must we, or it could become the run's
/// result (see `supervisor::run`).
pub(super) struct DropSandboxNoise<R> {
    lines: std::io::BufReader<R>,
    pending: Vec<u8>,
    at: usize,
}

impl<R: std::io::Read> DropSandboxNoise<R> {
    pub(super) fn new(inner: R) -> Self {
        Self {
            lines: std::io::BufReader::new(inner),
            pending: Vec::new(),
            at: 0,
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
            if Self::is_noise(&self.pending) {
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
        DropSandboxNoise::new(log.as_bytes())
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(
            out,
            "one\nerror: Unable to create '/r/x.lock': Permission denied\nlast"
        );
    }
}
