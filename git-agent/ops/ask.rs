//! Asking an agent a question in the foreground, in its permission mode that cannot edit:
//! `git agent plan draft` (a plan for a goal) and `git agent review --ai` (findings on a
//! session's work) wait for one answer, which is text, not a change.
//!
//! Since the agent runs where the caller says (the user's checkout for a draft, a throw-away
//! worktree for a review), it must not be able to change it:
//! - the profile runs in its permission mode that cannot edit (see [`choose`]: claude's
//!   `plan`, codex's `read-only` sandbox, gemini's `plan`, opencode's `read-only`, aider's
//!   `ask`); a profile without one is refused unless the user names a mode themselves;
//! - and, where the kernel can (`agent.sandbox`, as for sessions), under our write sandbox
//!   with nothing of the repository writable: only its CLI's own folders, a private temporary
//!   folder and `/dev` (codex's read-only mode is its own OS sandbox, not stacked on).
//!
//! Owns choosing the asked agent in its mode and running it to its answer; prints nothing:
//! progress goes to the caller's closure.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result};
use nix::sys::signal::Signal;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::agents::output::{self, Event, Outcome};
use crate::agents::{self, Bindings, Profile, Profiles};
use crate::error::Failure;
use crate::git::repo::Config;
use crate::process::Cmd;
use crate::sandbox::{Setting, Support};

/// The agent asked: its profile (in its mode), its program, and whether the mode was named by
/// the user rather than chosen as the profile's read-only one.
pub struct Asker {
    pub profile: Profile,
    pub program: PathBuf,
    pub mode_given: bool,
}

/// Profile `name` in `mode`, or else in its read-only mode. A profile without one is refused
/// unless the user names a mode: `what` (`plan draft`, `review --ai`) never silently runs an
/// agent that can edit files; `example` is the command the hint shows with `--agent claude`.
pub fn choose(
    profiles: &Profiles,
    name: &str,
    mode: Option<&str>,
    what: &str,
    example: &str,
) -> Result<Asker> {
    let read_only = agents::read_only_mode(name).map(|m| m.name);
    let profile = profiles.find(name, mode.or(read_only))?;
    if mode.is_none() && !profile.read_only {
        let with_modes: Vec<&str> = agents::DETECT_ORDER
            .iter()
            .copied()
            .filter(|p| agents::read_only_mode(p).is_some())
            .collect();
        return Err(Failure::fatal(format!(
            "profile '{name}' has no read-only permission mode: {what} does not run an agent \
             that can edit files"
        ))
        .hint(format!(
            "use a profile that has one ({}): {example} --agent claude",
            with_modes.join(", ")
        ))
        .hint("or run it as it is, knowing it may edit what it reads: --permission-mode MODE")
        .into());
    }
    let program = profile.resolve_program()?;
    Ok(Asker {
        profile,
        program,
        mode_given: mode.is_some(),
    })
}

/// What the agent answered.
pub struct Answer {
    /// Its exit, and its outcome (cost, error, rate limit) as its output reported them.
    pub exit: std::process::ExitStatus,
    pub outcome: Outcome,
    /// Its final result, each thing it said in full (the outcome keeps them clipped), and its
    /// raw output (a plain command's answer).
    pub result: Option<String>,
    pub texts: Vec<String>,
    pub raw: String,
    /// Its last lines on stderr (why a CLI that failed without a word failed).
    pub stderr: Vec<String>,
    /// How long it ran.
    pub took: std::time::Duration,
}

impl Answer {
    /// The last thing it said, in full, else its result.
    pub fn said(&self) -> Option<&str> {
        self.texts
            .last()
            .or(self.result.as_ref())
            .map(String::as_str)
    }

    /// Why the agent failed, if it did: it exited non-zero, or reported an error or a limit.
    pub fn failure(&self) -> Option<String> {
        if let Some(limit) = &self.outcome.rate_limit {
            return Some(limit.message.clone());
        }
        let reported = self.outcome.error.clone();
        if !self.exit.success() {
            let how = crate::process::describe_status(self.exit);
            let why = reported.or_else(|| self.stderr.last().cloned());
            return Some(why.map_or_else(|| how.clone(), |w| format!("{how}: {w}")));
        }
        (self.outcome.ok == Some(false))
            .then(|| reported.unwrap_or_else(|| "the agent reported an error".into()))
    }
}

/// The agent, ready to run: its command (sandboxed where it applies), its temporary
/// folder (removed when this is dropped), and how its writes are confined.
pub struct Started {
    cmd: Cmd,
    spec: crate::session::AgentSpec,
    prompt_file: PathBuf,
    _tmp: tempfile::TempDir,
    /// The write sandbox it runs in: `landlock`, codex's own, or none and why.
    pub sandbox: String,
}

/// Prepares `asker` to run in `workdir` with `prompt`.
pub fn start(config: &Config, workdir: &Path, asker: &Asker, prompt: &str) -> Result<Started> {
    let tmp = tempfile::Builder::new()
        .prefix("git-agent-ask-")
        .tempdir()
        .context("could not create a temporary folder")?;
    let prompt_file = tmp.path().join("prompt.md");
    std::fs::write(&prompt_file, prompt)?;
    let spec = asker.profile.spec(asker.program.clone());
    let bindings = Bindings {
        prompt,
        prompt_file: &prompt_file,
        session_id: None,
    };
    let mut cmd = Cmd::new(&asker.program)
        .args(agents::bind(&spec, &spec.args, &bindings))
        .current_dir(workdir)
        .scrub_for_agent()
        .env("GIT_AGENT_PROMPT", prompt)
        .env("GIT_AGENT_PROMPT_FILE", &prompt_file)
        .env("GIT_AGENT_REPO", workdir)
        .env("TMPDIR", tmp.path());
    for (k, v) in &spec.env {
        cmd = cmd.env(k, v);
    }
    let (cmd, sandbox) = sandboxed(config, &spec, tmp.path(), cmd)?;
    Ok(Started {
        cmd,
        spec,
        prompt_file,
        _tmp: tmp,
        sandbox,
    })
}

impl Started {
    /// Runs the agent to its end, in the foreground; `progress` sees every event of its
    /// output as it comes.
    ///
    /// The agent ends with us: SIGINT, SIGTERM or SIGHUP caught meanwhile is passed on to it as
    /// SIGTERM, and another one as SIGKILL (a terminal's Ctrl-C reaches it anyway; a signal
    /// sent to our process alone would not). We wait for its end, so the caller still records
    /// it and cleans up; from then on those signals act as they normally do.
    pub fn run(self, progress: &mut dyn FnMut(&Event)) -> Result<Answer> {
        const SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];
        let stop = Arc::new(AtomicBool::new(false));
        let handlers: Vec<_> = SIGNALS
            .into_iter()
            .filter_map(|sig| signal_hook::flag::register(sig, Arc::clone(&stop)).ok())
            .collect();
        let answer = self.run_until(&stop, progress);
        for id in handlers {
            signal_hook::low_level::unregister(id);
        }
        // Unregistered, a signal would be caught and ignored: its default action comes back.
        let always = Arc::new(AtomicBool::new(true));
        for sig in SIGNALS {
            let _ = signal_hook::flag::register_conditional_default(sig, Arc::clone(&always));
        }
        answer
    }

    fn run_until(self, stop: &AtomicBool, progress: &mut dyn FnMut(&Event)) -> Result<Answer> {
        let format = self.spec.format;
        let began = std::time::Instant::now();
        let stdin = if self.spec.prompt_via == agents::PromptVia::Stdin.as_str() {
            Stdio::from(std::fs::File::open(&self.prompt_file)?)
        } else {
            Stdio::null()
        };
        let mut child = self
            .cmd
            .spawn(stdin, Stdio::piped(), Stdio::piped(), false)?;
        let stderr = child.stderr.take().context("no stderr")?;
        let errors = std::thread::spawn(move || {
            BufReader::new(stderr)
                .lines()
                .map_while(std::io::Result::ok)
                .collect::<Vec<String>>()
        });
        let mut said = Said::default();
        let mut outcome = Outcome::default();
        let stdout = child.stdout.take().context("no stdout")?;
        let pass_on = PassOn {
            stop,
            pid: nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX)),
            told: AtomicBool::new(false),
        };
        let reading = AtomicBool::new(true);
        std::thread::scope(|scope| {
            // The agent is not reaped before this ends, so its pid stays its own.
            scope.spawn(|| {
                while reading.load(Ordering::SeqCst) {
                    pass_on.check();
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::io::Result::ok)
            {
                for event in output::parse_line(format, &line) {
                    said.hear(&event);
                    outcome.apply(&event);
                    progress(&event);
                }
                said.raw.push_str(&line);
                said.raw.push('\n');
            }
            reading.store(false, Ordering::SeqCst);
        });
        let exit = loop {
            if let Some(exit) = child.try_wait().context("could not wait for the agent")? {
                break exit;
            }
            pass_on.check();
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = errors.join().unwrap_or_default();
        for line in &stderr {
            for event in output::parse_stderr_line(format, line) {
                outcome.apply(&event);
            }
        }
        if exit.success() {
            output::end_of_stream(format, &mut outcome);
        }
        let mut stderr: Vec<String> = stderr
            .into_iter()
            .filter(|l| !l.trim().is_empty())
            .collect();
        stderr.drain(..stderr.len().saturating_sub(5));
        Ok(Answer {
            exit,
            outcome,
            result: said.result,
            texts: said.texts,
            raw: said.raw,
            stderr,
            took: began.elapsed(),
        })
    }
}

/// Passes the signals we catch on to the running agent (not yet reaped).
struct PassOn<'a> {
    /// Set by our handlers; taken back here, so a second signal is seen as one.
    stop: &'a AtomicBool,
    pid: nix::unistd::Pid,
    /// SIGTERM went already: the next one is SIGKILL.
    told: AtomicBool,
}

impl PassOn<'_> {
    fn check(&self) {
        if self.stop.swap(false, Ordering::SeqCst) {
            let signal = if self.told.swap(true, Ordering::SeqCst) {
                Signal::SIGKILL
            } else {
                Signal::SIGTERM
            };
            let _ = nix::sys::signal::kill(self.pid, signal);
        }
    }
}

/// `cmd` in our write sandbox with nothing of the repository writable, where it applies:
/// the command and how it is confined (as a session's run decides it: `agent.sandbox`).
fn sandboxed(
    config: &Config,
    spec: &crate::session::AgentSpec,
    tmp: &Path,
    cmd: Cmd,
) -> Result<(Cmd, String)> {
    let setting = Setting::from_config(config)?;
    if setting == Setting::Off {
        return Ok((cmd, "none (agent.sandbox=off)".into()));
    }
    if let Some(own) = agents::own_sandbox(spec) {
        return Ok((cmd, own));
    }
    if let Support::Unavailable { reason } = crate::sandbox::support() {
        if setting == Setting::On {
            return Err(Failure::fatal(format!(
                "agent.sandbox is 'on' but the agent cannot be sandboxed: {reason}"
            ))
            .hint("set agent.sandbox=auto to run unsandboxed where the kernel cannot sandbox")
            .into());
        }
        return Ok((cmd, format!("none: {reason}")));
    }
    let mut writable = vec![tmp.to_owned(), PathBuf::from("/dev")];
    // What the user lets every agent write (`agent.sandbox.allowWrite`, never the repository's
    // own files) holds for the asked agent too.
    writable.extend(crate::sandbox::allow_write_from_config(config)?);
    for allowed in agents::sandbox_writes(spec) {
        if allowed.folder {
            let _ = std::fs::create_dir_all(&allowed.path);
        }
        if allowed.path.exists() {
            writable.push(allowed.path);
        }
    }
    Ok((
        crate::sandbox::wrap(&cmd, &writable)?,
        "landlock: nothing of the repository is writable".into(),
    ))
}

/// What the agent said, in full: its final result, each thing it said, its raw output.
#[derive(Default)]
struct Said {
    result: Option<String>,
    texts: Vec<String>,
    continues: bool,
    raw: String,
}

impl Said {
    fn hear(&mut self, event: &Event) {
        match event {
            Event::Text { text, partial } => {
                match self.texts.last_mut() {
                    Some(last) if self.continues => last.push_str(text),
                    _ => self.texts.push(text.clone()),
                }
                self.continues = *partial;
            }
            Event::Result {
                ok: true,
                text: Some(text),
                ..
            } if !text.trim().is_empty() => self.result = Some(text.clone()),
            _ => {}
        }
    }
}
