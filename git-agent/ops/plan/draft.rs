//! `git agent plan draft`: the planner step. An agent reads the repository and answers a goal
//! with a plan file; the caller writes it, checks it as `plan check` does, and shows it.
//! Nothing here starts a plan: only the user's `plan run` does.
//!
//! Where it runs: in the foreground, in the user's current worktree, and not as a session.
//! The planner must see the checkout the user is looking at (a session's worktree would be a
//! copy of a commit, without the user's uncommitted state), the user waits for its answer
//! anyway, and a session would leave a branch, a worktree and a record behind for an answer
//! that is one file. Since it runs in the user's checkout it must not be able to change it:
//! - the profile runs in its permission mode that cannot edit (see [`choose`]: claude's
//!   `plan`, codex's `read-only` sandbox, gemini's `plan`, opencode's `read-only`, aider's
//!   `ask`); a profile without one is refused unless the user names a mode themselves;
//! - and, where the kernel can (`agent.sandbox`, as for sessions), under our write sandbox
//!   with nothing of the repository writable: only its CLI's own folders, a private temporary
//!   folder and `/dev` (codex's read-only mode is its own OS sandbox, not stacked on).
//!
//! Owns the planner's prompt ([`FORMAT`], [`prompt`]), choosing and running the planner, and
//! finding the plan in its answer ([`extract`]). It prints nothing: progress is reported
//! through the caller's closure, and the plan file is written by [`write_new`].

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, Result};

use crate::agents::output::{self, Event, Outcome};
use crate::agents::{self, Bindings, Profile, Profiles};
use crate::error::Failure;
use crate::git::repo::Config;
use crate::process::Cmd;
use crate::sandbox::{Setting, Support};

/// The plan format, as the planner is told it.
pub const FORMAT: &str = r#"A plan is a TOML file:

name = "short-name"        # required: letters, digits, '.', '_', '-'; its branch is plan/<name>
base = "main"              # optional: the branch or commit to start from (default: the current branch)
max_parallel = 3           # optional: at most this many tasks at once
validate = "cargo test"    # optional: a command run once every task has landed
land = "manual"            # optional: "manual" (default) or "auto"

[[task]]                   # one table per task
id = "skeleton"            # required, unique
prompt = """…"""           # required: everything the task's agent needs to know, self-contained
agent = "claude"           # optional: a profile, or a list of profiles (default: the user's default)
depends_on = ["other-id"]  # optional: starts once these tasks have landed
touches = ["src/search/mod.rs", "src/search/index/**"]  # the paths it owns (git globs, relative to the repository root)
verify = "cargo test search::index"  # optional: a command that must pass before the task lands
budget = "$2"              # optional: spend limit
timeout = "30m"            # optional: time limit
retries = 1                # optional: tries again after a failure
variants = 1               # optional: that many agents try it, the best one lands

A dependent task's prompt may contain {{ deps }}: it becomes the final reports of the tasks it
depends on (or {{ task.<id>.result }} for one of them), so it does not need their whole context.
No other keys are allowed.

Tasks whose `touches` overlap never run at the same time, and tasks without dependencies on
each other run in parallel: give each parallel slice its own disjoint paths (a shared module or
types first, as a task the others depend on; documentation or integration last)."#;

/// The planner's prompt for `goal`.
pub fn prompt(goal: &str) -> String {
    format!(
        "You are planning work for a team of coding agents that will each work in their own \
         git worktree. Do not change any file: read the repository, then answer with a plan.\n\n\
         The goal:\n\n{goal}\n\n\
         Split the goal into tasks that can each be done and tested by one agent, as parallel \
         as the code allows. {FORMAT}\n\n\
         Answer with exactly one ```toml fenced block holding the whole plan, in your final \
         message (not in a tool call, not in a file), and nothing after it.\n"
    )
}

/// The planner: its profile (in its mode), its program, and whether the mode was named by the
/// user rather than chosen as the profile's read-only one.
pub struct Planner {
    pub profile: Profile,
    pub program: PathBuf,
    pub mode_given: bool,
}

/// The planner's profile: `agent` (else `agent.default`, else the first installed built-in)
/// in `mode`, or else in its read-only mode. A profile without one is refused unless the
/// user names a mode: plan draft never silently runs an agent that can edit files.
pub fn choose(config: &Config, agent: Option<&str>, mode: Option<&str>) -> Result<Planner> {
    let profiles = Profiles::load(config)?;
    let name = match agent {
        Some(name) => name.to_owned(),
        None => profiles.default_profile(None)?.name,
    };
    let read_only = agents::read_only_mode(&name).map(|m| m.name);
    let profile = profiles.find(&name, mode.or(read_only))?;
    if mode.is_none() && !profile.read_only {
        let with_modes: Vec<&str> = agents::DETECT_ORDER
            .iter()
            .copied()
            .filter(|p| agents::read_only_mode(p).is_some())
            .collect();
        return Err(Failure::fatal(format!(
            "profile '{name}' has no read-only permission mode: plan draft does not run an \
             agent that can edit files"
        ))
        .hint(format!(
            "use a profile that has one ({}): git agent plan draft GOAL --agent claude",
            with_modes.join(", ")
        ))
        .hint("or run it as it is, knowing it may edit this checkout: --permission-mode MODE")
        .into());
    }
    let program = profile.resolve_program()?;
    Ok(Planner {
        profile,
        program,
        mode_given: mode.is_some(),
    })
}

/// What the planner answered.
pub struct Answer {
    /// Its exit, and its outcome (cost, error, rate limit) as its output reported them.
    pub exit: std::process::ExitStatus,
    pub outcome: Outcome,
    /// The plan's text, if the answer held one.
    pub plan: Option<String>,
    /// The last thing it said, in full (the outcome keeps it clipped), else its result.
    pub said: Option<String>,
    /// Its last lines on stderr (why a CLI that failed without a word failed).
    pub stderr: Vec<String>,
}

impl Answer {
    /// Why the planner failed, if it did: it exited non-zero, or reported an error or a limit.
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

/// The planner, ready to run: its command (sandboxed where it applies), its temporary
/// folder (removed when this is dropped), and how its writes are confined.
pub struct Started {
    cmd: Cmd,
    spec: crate::session::AgentSpec,
    prompt_file: PathBuf,
    _tmp: tempfile::TempDir,
    /// The write sandbox it runs in: `landlock`, codex's own, or none and why.
    pub sandbox: String,
}

/// Prepares the planner to run in `workdir` with `prompt`.
pub fn start(config: &Config, workdir: &Path, planner: &Planner, prompt: &str) -> Result<Started> {
    let tmp = tempfile::Builder::new()
        .prefix("git-agent-draft-")
        .tempdir()
        .context("could not create a temporary folder")?;
    let prompt_file = tmp.path().join("prompt.md");
    std::fs::write(&prompt_file, prompt)?;
    let spec = planner.profile.spec(planner.program.clone());
    let bindings = Bindings {
        prompt,
        prompt_file: &prompt_file,
        session_id: None,
    };
    let mut cmd = Cmd::new(&planner.program)
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
    /// Runs the planner to its end, in the foreground; `progress` sees every event of its
    /// output as it comes.
    pub fn run(self, progress: &mut dyn FnMut(&Event)) -> Result<Answer> {
        let format = self.spec.format;
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
        let exit = child.wait().context("could not wait for the agent")?;
        let stderr = errors.join().unwrap_or_default();
        for line in &stderr {
            for event in output::parse_stderr_line(format, line) {
                outcome.apply(&event);
            }
        }
        if exit.success() {
            output::end_of_stream(format, &mut outcome);
        }
        let plan = said.plan();
        let mut stderr: Vec<String> = stderr
            .into_iter()
            .filter(|l| !l.trim().is_empty())
            .collect();
        stderr.drain(..stderr.len().saturating_sub(5));
        Ok(Answer {
            exit,
            outcome,
            plan,
            said: said.texts.pop().or(said.result),
            stderr,
        })
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
    // own files) holds for the planner too.
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

/// What the planner said, in full: its final result, each thing it said, its raw output.
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

    /// The plan in what it said, most likely first: in its final result; in one thing it
    /// said (the last first: a fenced block only, a line of a plain answer is not a plan);
    /// in all it said; in its raw output (a plain command's answer).
    fn plan(&self) -> Option<String> {
        let whole = self.texts.join("\n");
        self.result
            .as_deref()
            .and_then(extract)
            .or_else(|| self.texts.iter().rev().find_map(|t| fenced(t)))
            .or_else(|| extract(&whole))
            .or_else(|| extract(&self.raw))
    }
}

/// The plan in an answer: its first ```toml fenced block, else the whole text if it reads
/// as a plan file.
pub fn extract(text: &str) -> Option<String> {
    fenced(text).or_else(|| {
        let whole = text.trim();
        let looks_like_plan = toml::from_str::<super::PlanFile>(whole)
            .is_ok_and(|p| p.name.is_some() || !p.tasks.is_empty());
        looks_like_plan.then(|| format!("{whole}\n"))
    })
}

/// The first ```toml fenced block of a text (to its end if the block is not closed).
fn fenced(text: &str) -> Option<String> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let fence = line.trim_start();
        if fence
            .strip_prefix("```")
            .is_some_and(|lang| lang.trim().eq_ignore_ascii_case("toml"))
        {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            let body = body.join("\n");
            return (!body.trim().is_empty()).then(|| format!("{}\n", body.trim_end()));
        }
    }
    None
}

/// The name a drafted plan gives itself, if it is a usable name; else one made from the goal.
pub fn name_of(plan: &str, goal: &str) -> String {
    toml::from_str::<toml::Table>(plan)
        .ok()
        .and_then(|t| t.get("name").and_then(|n| n.as_str()).map(str::to_owned))
        .filter(|n| crate::names::check(n).is_ok())
        .unwrap_or_else(|| crate::names::slugify(goal))
}

/// Where a drafted plan goes unless told: `plans/<name>.toml` at the worktree's root, or
/// `plans/<name>-2.toml`… when that file exists (an answer the user paid for is never
/// thrown away, nor written over).
pub fn default_file(workdir: &Path, name: &str) -> PathBuf {
    let dir = workdir.join("plans");
    let first = dir.join(format!("{name}.toml"));
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{name}-{n}.toml")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Writes a new plan file (its folder made if needed); an existing one only with `force`.
pub fn write_new(path: &Path, text: &str, force: bool) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new();
    file.write(true);
    if force {
        file.create(true).truncate(true);
    } else {
        file.create_new(true);
    }
    let mut file = file.open(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::Error::from(
                Failure::fatal(format!("{} already exists", path.display()))
                    .hint("write over it with --force, or choose another file with -o FILE"),
            )
        } else {
            anyhow::anyhow!("could not write {}: {err}", path.display())
        }
    })?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("could not write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_toml_block_is_the_plan() {
        let answer = "Here it is:\n\n```toml\nname = \"x\"\n\n[[task]]\nid = \"a\"\n```\n\n```toml\nname = \"y\"\n```\n";
        assert_eq!(
            extract(answer).unwrap(),
            "name = \"x\"\n\n[[task]]\nid = \"a\"\n"
        );
        assert_eq!(
            extract("```TOML\nname = \"cut\"\n[[task]]").unwrap(),
            "name = \"cut\"\n[[task]]\n"
        );
        assert_eq!(
            extract("name = \"bare\"\n[[task]]\nid = \"a\"\nprompt = \"p\"").unwrap(),
            "name = \"bare\"\n[[task]]\nid = \"a\"\nprompt = \"p\"\n"
        );
        assert_eq!(extract("I could not make a plan."), None);
        assert_eq!(extract("```toml\n```"), None);
        assert_eq!(extract("```rust\nfn main() {}\n```"), None);
    }

    #[test]
    fn a_plan_is_named_by_itself_or_by_its_goal() {
        assert_eq!(name_of("name = \"search-v2\"\n", "goal"), "search-v2");
        assert_eq!(
            name_of("name = \"../escape\"\n", "Add a search page"),
            "add-search-page"
        );
        assert_eq!(name_of("not toml [", "Fix it"), "fix");
    }
}
