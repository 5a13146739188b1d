//! Errors in git's voice, and the exit codes every binary of the suite documents.
//!
//! Commands return `anyhow::Result`. A [`Failure`] anywhere in the error chain decides the
//! exit code and carries the `hint:` lines; any other error is a plain `fatal:` (128), the way
//! git's `die()` behaves.

/// Exit codes shared by `git-agent`, `git-agent-review` and `git-agent-merge`.
pub mod code {
    /// Everything asked for happened.
    pub const SUCCESS: u8 = 0;
    /// A defined negative result scripts branch on (e.g. `wait`: some session did not succeed).
    pub const NEGATIVE: u8 = 1;
    /// The command line was wrong (clap uses the same code).
    pub const USAGE: u8 = 2;
    /// The command would have to ask a question, but there is no terminal to ask on.
    pub const NEEDS_TERMINAL: u8 = 3;
    /// Fatal error: not a repository, bad input, I/O failure, state locked (git's `die()`).
    pub const FATAL: u8 = 128;
    /// Interrupted (Ctrl-C).
    pub const INTERRUPTED: u8 = 130;
}

/// An error meant for the user: a message, optional hints, and the exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub message: String,
    pub hints: Vec<String>,
    pub code: u8,
}

impl Failure {
    /// A fatal error (exit 128).
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hints: Vec::new(),
            code: code::FATAL,
        }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hints: Vec::new(),
            code: code::USAGE,
        }
    }

    /// Adds a `hint:` line.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Overrides the exit code.
    #[must_use]
    pub fn code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }
}

/// Returns early with a fatal [`Failure`]: `bail_fatal!("no such session '{name}'")`.
#[macro_export]
macro_rules! bail_fatal {
    ($($arg:tt)*) => {
        return Err($crate::error::Failure::fatal(format!($($arg)*)).into())
    };
}

/// How an error is reported: the exit code, the `fatal:` text and the hints.
pub struct Report {
    pub code: u8,
    pub message: String,
    pub hints: Vec<String>,
}

impl Report {
    /// Builds the report for an error chain. A `Failure` in the chain provides the code and
    /// hints; the message is the whole chain, outermost context first, as `a: b: c`.
    pub fn from_error(error: &anyhow::Error) -> Self {
        let failure = error.chain().find_map(|e| e.downcast_ref::<Failure>());
        let message = format!("{error:#}");
        match failure {
            Some(f) => Self {
                code: f.code,
                message,
                hints: f.hints.clone(),
            },
            None => Self {
                code: code::FATAL,
                message,
                hints: Vec::new(),
            },
        }
    }

    /// True when the error is a closed stdout (`git agent list | head -1`): not worth a word.
    pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
        error.chain().any(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        })
    }

    /// Writes the report the way git does: `fatal: …` then `hint: …` lines.
    pub fn write(&self, err: &mut dyn std::io::Write) -> std::io::Result<()> {
        let prefix = if self.code == code::USAGE {
            "error"
        } else {
            "fatal"
        };
        writeln!(err, "{prefix}: {}", self.message)?;
        for hint in &self.hints {
            for line in hint.lines() {
                writeln!(err, "hint: {line}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn failure_in_chain_sets_code_and_hints() {
        let err = Err::<(), _>(Failure::usage("bad name").hint("try another"))
            .context("cannot create session")
            .unwrap_err();
        let report = Report::from_error(&err);
        assert_eq!(report.code, code::USAGE);
        assert_eq!(report.message, "cannot create session: bad name");
        assert_eq!(report.hints, vec!["try another".to_string()]);
    }

    #[test]
    fn plain_errors_are_fatal() {
        let err = anyhow::anyhow!("disk full");
        let report = Report::from_error(&err);
        assert_eq!(report.code, code::FATAL);
        let mut out = Vec::new();
        report.write(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "fatal: disk full\n");
    }
}
