//! One module per verb: each has `Args` (clap) and `run`. The dispatch below is the table of
//! contents of `git agent`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

pub mod clean;
pub mod completions;
pub mod config;
pub mod demo;
pub mod doctor;
pub mod events;
pub mod exec;
pub mod fork;
pub mod help;
pub mod list;
pub mod logs;
pub mod new;
pub mod notify;
pub mod notify_desktop;
pub mod notify_run;
pub mod path;
pub mod pause;
pub mod plan;
pub mod profiles;
pub mod resume;
pub mod rm;
pub mod run;
pub mod sandbox;
pub mod send;
pub mod show;
pub mod start;
pub mod stop;
pub mod supervise;
pub mod terminal;
pub mod trust;
pub mod wait;
pub mod watch;

/// What a command may touch: its output streams, where it was started, and the user (the
/// approval of repository commands: [`Ctx::ensure_trusted`]).
pub struct Ctx<'a> {
    /// Results (tables, records, paths): what scripts read.
    pub out: &'a mut dyn Write,
    /// Messages, warnings, hints and progress.
    pub err: &'a mut dyn Write,
    /// The directory the command was started in.
    pub cwd: PathBuf,
}

impl Ctx<'_> {
    /// Writes `warning: …` lines.
    pub fn warn(&mut self, message: &str) -> Result<()> {
        writeln!(self.err, "warning: {message}")?;
        Ok(())
    }

    /// All readable sessions; damaged or too-new records are reported as warnings.
    pub fn sessions(
        &mut self,
        state: &crate::state::StateDir,
    ) -> Result<Vec<crate::session::Session>> {
        let mut listing = state.load_all()?;
        // A slot nobody gave away (its holder was killed): the queue moves now. Best effort:
        // where the state cannot be locked (inside an agent's sandbox) it is someone else's job.
        if listing
            .sessions
            .iter()
            .any(|s| s.live_state() == crate::session::State::Queued)
        {
            match crate::supervisor::schedule::advance(state) {
                Ok(started) if !started.is_empty() => listing = state.load_all()?,
                Ok(_) => {}
                // Nothing starts on a limit that cannot be read (a bad `agent.maxParallel`
                // set since): the sessions wait, but not in silence.
                Err(err) => self.warn(&format!("queued sessions cannot start: {err:#}"))?,
            }
        }
        for problem in &listing.problems {
            self.warn(&problem.message)?;
        }
        Ok(listing.sessions)
    }

    /// Writes a `--json` document (pretty, one per command; see `man/json.md`): `doc`'s fields
    /// plus `"version": JSON_VERSION`. The one writer of documents, so the schema version is
    /// named here only; `doc` must serialize to an object without a `version` field.
    ///
    /// The document goes through `serde_json::Value`, whose maps (no `preserve_order`) sort
    /// their keys: the key order of the output does not depend on how `doc` was built.
    pub fn write_doc(&mut self, doc: &impl serde::Serialize) -> Result<()> {
        let mut doc = serde_json::to_value(doc)?;
        let Some(fields) = doc.as_object_mut() else {
            anyhow::bail!("internal error: a --json document must be an object");
        };
        let earlier = fields.insert("version".into(), JSON_VERSION.into());
        debug_assert!(earlier.is_none(), "the document sets its own version");
        writeln!(self.out, "{}", serde_json::to_string_pretty(&doc)?)?;
        Ok(())
    }

    /// Writes `hint: …` lines.
    pub fn hint(&mut self, message: &str) -> Result<()> {
        for line in message.lines() {
            writeln!(self.err, "hint: {line}")?;
        }
        Ok(())
    }

    /// Runs an agent asked in the foreground (`plan draft`, `review --ai`, the judge) to its
    /// answer: a line of progress per step on stderr, then what it spent, if anything.
    pub fn ask(
        &mut self,
        started: crate::ops::ask::Started,
        name: &str,
    ) -> Result<crate::ops::ask::Answer> {
        let answer = {
            let err = &mut *self.err;
            started.run(&mut |event| {
                if let Some(line) = crate::ui::asked_progress(event) {
                    let _ = writeln!(err, "{line}");
                }
            })?
        };
        let usage = &answer.outcome.usage;
        if let Some(spent) = crate::agents::output::format_spend(usage)
            && usage.cost_usd.is_some_and(|usd| usd > 0.0)
        {
            writeln!(self.err, "{name} spent {spent}.")?;
        }
        Ok(answer)
    }
}

/// Text given as `-m` paragraphs, a file (`-F`, `-` for stdin) or words; `what` names it in
/// errors ("task", "message"). May be empty.
pub fn read_text(
    message: &[String],
    file: Option<&std::path::Path>,
    words: &[String],
    what: &str,
) -> Result<String> {
    use anyhow::Context as _;
    let both = |flag: &str| -> anyhow::Error {
        crate::error::Failure::usage(format!(
            "give the {what} either with {flag} or as words, not both"
        ))
        .into()
    };
    if let Some(file) = file {
        if !words.is_empty() {
            return Err(both("-F"));
        }
        let text = if file == std::path::Path::new("-") {
            std::io::read_to_string(std::io::stdin())
                .with_context(|| format!("could not read the {what} from standard input"))?
        } else {
            std::fs::read_to_string(file)
                .with_context(|| format!("could not read {}", file.display()))?
        };
        return Ok(text.trim_end().to_owned());
    }
    if !message.is_empty() {
        if !words.is_empty() {
            return Err(both("-m"));
        }
        return Ok(message.join("\n\n"));
    }
    Ok(words.join(" "))
}

/// How a listing command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Porcelain,
}

/// `--json`, flattened into the `Args` of every command that prints a document (`man/json.md`).
/// The help text says what the document holds: a command words it with
/// `#[command(mut_args(reword("json", |a| a.help("…"))))]`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct OutputArgs {
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

impl OutputArgs {
    /// The format asked for: [`Format::Json`] or [`Format::Human`].
    pub fn format(self) -> Format {
        if self.json {
            Format::Json
        } else {
            Format::Human
        }
    }
}

/// `--json` or `--porcelain` (one path per line, for scripts), for the commands that offer
/// both; the help texts are worded by the command, as for [`OutputArgs`].
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct PorcelainOutputArgs {
    /// Print the result as JSON
    #[arg(long, conflicts_with = "porcelain")]
    json: bool,
    /// Print the result for scripts
    #[arg(long)]
    porcelain: bool,
}

impl PorcelainOutputArgs {
    /// The format asked for.
    pub fn format(self) -> Format {
        match (self.json, self.porcelain) {
            (true, _) => Format::Json,
            (false, true) => Format::Porcelain,
            (false, false) => Format::Human,
        }
    }
}

/// `-m MSG` (repeatable) and `-F FILE` (`-` for stdin): the text a command sends, read by
/// [`MessageArgs::read`] together with the command's words. The help texts name what the text
/// is ("the task"): a command words them with [`reword`].
#[derive(Debug, Clone, clap::Args)]
pub struct MessageArgs {
    /// The message (repeat for more paragraphs)
    #[arg(short = 'm', long = "message", value_name = "MSG")]
    pub message: Vec<String>,
    /// Read the message from a file ('-' for standard input)
    #[arg(
        short = 'F',
        long = "file",
        value_name = "FILE",
        conflicts_with = "message"
    )]
    pub file: Option<PathBuf>,
}

/// For `#[command(mut_args(…))]`: `edit` applied to the argument `id` only. How a command
/// words the help of a shared argument (`--json`, `-m`) for itself; clap's `mut_arg` would
/// move the argument to the end, and with it its place in the man page.
pub fn reword(
    id: &'static str,
    edit: impl Fn(clap::Arg) -> clap::Arg,
) -> impl FnMut(clap::Arg) -> clap::Arg {
    move |arg| if arg.get_id() == id { edit(arg) } else { arg }
}

impl MessageArgs {
    /// Neither `-m` nor `-F` was given.
    pub fn is_empty(&self) -> bool {
        self.message.is_empty() && self.file.is_none()
    }

    /// The text, from `-m`, `-F` or `words` (see [`read_text`]).
    pub fn read(&self, words: &[String], what: &str) -> Result<String> {
        read_text(&self.message, self.file.as_deref(), words, what)
    }
}

/// A session as `list --json` and `show --json` print it: its record, with `state` the state
/// to show ([`Session::live_state`](crate::session::Session::live_state)) and `stored_state`
/// the record's, and what it changed.
#[derive(serde::Serialize)]
pub struct SessionDoc<'a> {
    #[serde(flatten)]
    pub record: &'a crate::session::Session,
    /// After the record, so it replaces the record's own `state`: [`Ctx::write_doc`] builds
    /// the document as a map, where the later key wins.
    pub state: crate::session::State,
    pub stored_state: crate::session::State,
    pub changes: Option<&'a crate::git::changes::Changes>,
}

/// One session's entry in what `rm --json` (`results`) and `clean --json` (`done`) report.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum Removal {
    Removed {
        name: String,
        removed: Box<crate::ops::remove::Outcome>,
    },
    Failed {
        name: String,
        error: String,
    },
}

/// Version of every `--json` document (`{"version": 1, …}`), added by [`Ctx::write_doc`].
pub const JSON_VERSION: u32 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    fn written(doc: &impl serde::Serialize) -> Result<String> {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut ctx = Ctx {
            out: &mut out,
            err: &mut err,
            cwd: PathBuf::from("/"),
        };
        ctx.write_doc(doc)?;
        Ok(String::from_utf8(out)?)
    }

    #[test]
    fn write_doc_adds_the_version_and_keeps_keys_sorted() {
        #[derive(serde::Serialize)]
        struct Doc {
            zeta: u8,
            alpha: &'static str,
        }
        let text = written(&Doc {
            zeta: 1,
            alpha: "a",
        })
        .unwrap();
        assert_eq!(
            text,
            "{\n  \"alpha\": \"a\",\n  \"version\": 1,\n  \"zeta\": 1\n}\n"
        );
        assert_eq!(
            text,
            written(&serde_json::json!({"alpha": "a", "zeta": 1})).unwrap()
        );
    }

    #[test]
    fn write_doc_refuses_what_is_not_an_object() {
        assert!(written(&[1, 2]).is_err());
    }
}
