//! A scripted stand-in for an agent CLI, for tests only (built with the `test-fakes` feature).
//!
//! It logs how it was called (argv, cwd, environment, stdin, pid and process group) as one
//! JSON line appended to `$GIT_AGENT_TEST_LOG`, then follows a script: from `--script FILE`
//! anywhere in its arguments, else from the file named by `$GIT_AGENT_TEST_SCRIPT`. Installed
//! under an agent's name (`claude`, `codex`…) it accepts that agent's arguments unchanged.
//!
//! Script lines (blank lines and `#` comments are skipped; `\n` in TEXT is a newline):
//!   print TEXT          a line on stdout          eprint TEXT     a line on stderr
//!   write PATH TEXT     create/overwrite a file   append PATH TEXT
//!   commit MESSAGE      git add -A && git commit  git-add PATH  stage one path
//!   sleep SECONDS       (fractions allowed)       wait-for PATH   until the file exists
//!   pidfile PATH        write our pid             spawn-child PIDFILE  start `sleep 300` in our group
//!   spawn-daemon PIDFILE  start `sleep 300` detached (setsid), as a server would
//!   ignore-term         survive SIGTERM           signal NAME     send ourselves KILL, TERM, SEGV…
//!   status TEXT         write $GIT_AGENT_STATUS_FILE
//!   symlink TARGET PATH make PATH a symlink to TARGET (replacing a file there)
//!   try-connect DIR     connect to each Unix socket in DIR: `connected PATH` or `refused…`
//!   notify ARGS…        run `git agent notify ARGS…`
//!   exit CODE
//!   (in PATH and TEXT, `$VAR` is that variable, `$AGENT_SESSION_ID` the session we report)
//!   try-write PATH TEXT like write, but prints `wrote PATH` or `denied PATH: ERROR`;
//!                       a PATH of `$VAR/rest` starts from that variable's value
//!
//! Installed as `claude`, `codex`, `gemini`, `opencode` or `aider`, it also speaks that CLI's
//! output format: it starts with the session event (reusing the id passed to resume:
//! `--resume ID`, `resume ID`, `--session ID`) and ends with a result event (success on exit
//! 0). In that mode:
//!   say TEXT            the agent says something  tool NAME ARG  a tool call
//!   cost USD            the cost of this run      fail TEXT      an error result, and the
//!                                                                CLI's own exit code for it
//!   step USD            a step's cost reported mid-run (opencode's step_finish, aider's
//!                       `Tokens: … Cost: …` line; nothing for the others)
//!   rate-limit          end as the CLI does when it gives up on HTTP 429
//!   rate-limit-unless PATH   the same if PATH does not exist yet (it creates PATH); once it
//!                       exists the script goes on: limited on the first run only
//!   tokens MODEL IN OUT tokens spent on MODEL, reported without a cost: a claude assistant
//!                       message of its own, a codex `turn.completed` (codex names no
//!                       model), gemini's `result` with `stats.models` (it ends the run's
//!                       output: no other result follows)
//!   lock-or-fail PATH   create PATH exclusively; if it exists already, say so on stderr and
//!                       exit 1 (a CLI whose start-up finds its database being migrated)
//!   unlock PATH         remove PATH
//!   announce            report the session here instead of first: with this line in the
//!                       script the session event waits for it (a CLI that reports its
//!                       session only after its own start-up)

#![allow(clippy::disallowed_methods)] // a test tool, not part of the product

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The CLI we pretend to be, from our own name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cli {
    Plain,
    Claude,
    Codex,
    Gemini,
    Opencode,
    Aider,
}

struct Speaker {
    cli: Cli,
    session: String,
    cost: f64,
    /// What `step` lines reported so far.
    spent: f64,
    finished: bool,
}

thread_local! {
    static SPEAKER: RefCell<Speaker> = const { RefCell::new(Speaker { cli: Cli::Plain, session: String::new(), cost: 0.01, spent: 0.0, finished: false }) };
}

fn emit(line: serde_json::Value) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

fn speaker<R>(f: impl FnOnce(&mut Speaker) -> R) -> R {
    SPEAKER.with(|s| f(&mut s.borrow_mut()))
}

/// Who we are and our session; reported at once unless `now` is false (the script says when).
fn start_session(argv: &[String], now: bool) {
    let name = std::path::Path::new(&argv[0])
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let cli = match name.as_str() {
        "claude" => Cli::Claude,
        "codex" => Cli::Codex,
        "gemini" => Cli::Gemini,
        "opencode" => Cli::Opencode,
        "aider" => Cli::Aider,
        _ => Cli::Plain,
    };
    let after = |flag: &str| {
        argv.iter()
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1))
            .cloned()
    };
    let resumed = match cli {
        // Forks (claude's --fork-session, codex's `fork ID`, gemini's --session-file) start
        // a conversation of their own, seeded with the original.
        Cli::Claude if argv.iter().any(|a| a == "--fork-session") => None,
        Cli::Claude | Cli::Gemini => after("--resume"),
        Cli::Codex => after("resume"),
        Cli::Opencode => after("--session"),
        _ => None,
    };
    let forked = match cli {
        Cli::Claude if argv.iter().any(|a| a == "--fork-session") => after("--resume"),
        Cli::Codex => after("fork"),
        Cli::Gemini => after("--session-file"),
        _ => None,
    };
    let session = resumed.unwrap_or_else(|| format!("fake-session-{}", std::process::id()));
    transcript::begin(cli, &session, forked.as_deref(), argv);
    speaker(|s| {
        s.cli = cli;
        s.session.clone_from(&session);
    });
    if now {
        announce();
    }
}

/// The session event of the CLI we pretend to be.
fn announce() {
    let (cli, session) = speaker(|s| (s.cli, s.session.clone()));
    match cli {
        Cli::Claude => {
            emit(serde_json::json!({"type":"system","subtype":"init","session_id":session}));
        }
        Cli::Codex => emit(serde_json::json!({"type":"thread.started","thread_id":session})),
        Cli::Gemini => emit(serde_json::json!({"type":"init","session_id":session,"model":"fake"})),
        Cli::Opencode => {
            emit(serde_json::json!({"type":"step_start","sessionID":session,"part":{}}));
        }
        Cli::Aider => println!("Aider v0.0.0-fake"),
        Cli::Plain => {}
    }
}

fn say(text: &str) {
    let (cli, session) = speaker(|s| (s.cli, s.session.clone()));
    transcript::said(cli, &session, text);
    match cli {
        Cli::Claude => emit(
            serde_json::json!({"type":"assistant","session_id":session,"message":{"content":[{"type":"text","text":text}]}}),
        ),
        Cli::Codex => emit(
            serde_json::json!({"type":"item.completed","item":{"type":"agent_message","text":text}}),
        ),
        Cli::Gemini => emit(
            serde_json::json!({"type":"message","role":"assistant","content":text,"delta":true}),
        ),
        Cli::Opencode => {
            emit(serde_json::json!({"type":"text","sessionID":session,"part":{"text":text}}));
        }
        Cli::Aider | Cli::Plain => println!("{text}"),
    }
}

fn tool(name: &str, arg: &str) {
    let (cli, session) = speaker(|s| (s.cli, s.session.clone()));
    match cli {
        Cli::Claude => emit(
            serde_json::json!({"type":"assistant","session_id":session,"message":{"content":[{"type":"tool_use","name":name,"input":{"command":arg}}]}}),
        ),
        Cli::Codex => emit(
            serde_json::json!({"type":"item.completed","item":{"type":"command_execution","command":arg}}),
        ),
        Cli::Gemini => emit(
            serde_json::json!({"type":"tool_use","tool_name":name,"parameters":{"command":arg}}),
        ),
        Cli::Opencode => emit(
            serde_json::json!({"type":"tool_use","sessionID":session,"part":{"tool":name,"state":{"input":{"command":arg}}}}),
        ),
        Cli::Aider | Cli::Plain => println!("{name} {arg}"),
    }
}

/// The final event of a run; returns the exit code the real CLI would use.
/// What `rate-limit` fails with: the words the CLIs use when they give up on HTTP 429.
const RATE_LIMITED: &str =
    "API Error: Request rejected (429) · exceeded retry limit, last status: 429 Too Many Requests";

fn finish(error: Option<&str>) -> u8 {
    let (cli, session, cost, finished) = speaker(|s| {
        (
            s.cli,
            s.session.clone(),
            s.cost,
            std::mem::replace(&mut s.finished, true),
        )
    });
    if finished {
        return 0;
    }
    match (cli, error) {
        (Cli::Claude, None) => emit(
            serde_json::json!({"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"Done.","session_id":session,"total_cost_usd":cost,"usage":{"input_tokens":100,"output_tokens":10}}),
        ),
        (Cli::Claude, Some(e)) => emit(
            serde_json::json!({"type":"result","subtype":"success","is_error":true,"num_turns":1,"result":e,"session_id":session,"total_cost_usd":0}),
        ),
        (Cli::Codex, None) => emit(
            serde_json::json!({"type":"turn.completed","usage":{"input_tokens":100,"output_tokens":10}}),
        ),
        (Cli::Codex, Some(e)) => {
            emit(serde_json::json!({"type":"turn.failed","error":{"message":e}}));
        }
        (Cli::Gemini, None) => emit(
            serde_json::json!({"type":"result","status":"success","stats":{"input_tokens":100,"output_tokens":10}}),
        ),
        (Cli::Gemini, Some(e)) => {
            emit(serde_json::json!({"type":"result","status":"error","error":{"message":e}}));
        }
        (Cli::Opencode, None) => emit(
            serde_json::json!({"type":"step_finish","sessionID":session,"part":{"reason":"stop","tokens":{"input":100,"output":10},"cost":cost}}),
        ),
        (Cli::Opencode, Some(e)) => emit(
            serde_json::json!({"type":"error","sessionID":session,"error":{"data":{"message":e}}}),
        ),
        (Cli::Aider, None) => {
            println!(
                "Tokens: 100 sent, 10 received. Cost: ${cost:.5} message, ${cost:.5} session."
            );
        }
        (Cli::Aider, Some(e)) => println!("litellm.BadRequestError: OpenAIException - {e}"),
        (Cli::Plain, Some(e)) => eprintln!("{e}"),
        (Cli::Plain, None) => {}
    }
    let _ = std::io::stdout().flush();
    match (cli, error) {
        (_, None) | (Cli::Aider, Some(_)) => 0,
        (Cli::Gemini, Some(_)) => 144,
        (_, Some(_)) => 1,
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let mut stdin = String::new();
    if !std::io::stdin().is_terminal() {
        let _ = std::io::stdin().read_to_string(&mut stdin);
    }
    log_call(&argv, &stdin);

    let script = argv
        .iter()
        .position(|a| a == "--script")
        .and_then(|i| argv.get(i + 1))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("GIT_AGENT_TEST_SCRIPT").map(PathBuf::from));
    let text = match script.map(|s| std::fs::read_to_string(&s).map_err(|e| (s, e))) {
        None => String::new(),
        Some(Ok(t)) => t,
        Some(Err((s, e))) => {
            eprintln!("fake-agent: cannot read script {}: {e}", s.display());
            return ExitCode::from(99);
        }
    };
    start_session(&argv, !text.lines().any(|l| l.trim() == "announce"));
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        if let Some(code) = step(verb, rest) {
            if code == 0 {
                finish(None);
            }
            return ExitCode::from(code);
        }
    }
    ExitCode::from(finish(None))
}

/// `\n` becomes a newline and `$NAME` (capitals and `_`) the environment variable's value;
/// `$AGENT_SESSION_ID` is the session id we report (as the CLI we pretend to be).
fn unescape(text: &str) -> String {
    let text = text.replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let name: String = rest[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        if name.is_empty() {
            out.push('$');
        } else if name == "AGENT_SESSION_ID" {
            out.push_str(&speaker(|s| s.session.clone()));
        } else {
            out.push_str(&std::env::var(&name).unwrap_or_default());
        }
        rest = &rest[i + 1 + name.len()..];
    }
    out.push_str(rest);
    out
}

fn step(verb: &str, rest: &str) -> Option<u8> {
    let out = |r: std::io::Result<()>| {
        if let Err(e) = r {
            eprintln!("fake-agent: {verb} {rest}: {e}");
            std::process::exit(98);
        }
    };
    match verb {
        "print" => {
            println!("{}", unescape(rest));
            let _ = std::io::stdout().flush();
        }
        "eprint" => eprintln!("{}", unescape(rest)),
        "write" | "append" => {
            let (path, content) = rest.split_once(' ').unwrap_or((rest, ""));
            let path = PathBuf::from(unescape(path));
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                out(std::fs::create_dir_all(parent));
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(verb == "append")
                .truncate(verb == "write")
                .open(&path)
                .unwrap_or_else(|e| panic!("fake-agent: cannot open {}: {e}", path.display()));
            out(file
                .write_all(unescape(content).as_bytes())
                .and_then(|()| file.write_all(b"\n")));
        }
        "symlink" => {
            let (target, path) = rest.split_once(' ').unwrap_or((rest, ""));
            let path = PathBuf::from(unescape(path));
            let _ = std::fs::remove_file(&path);
            out(std::os::unix::fs::symlink(unescape(target), &path));
        }
        "commit" => {
            for args in [vec!["add", "-A"], vec!["commit", "-q", "-m", rest]] {
                let status = Command::new("git")
                    .args(&args)
                    .status()
                    .expect("fake-agent: git");
                if !status.success() {
                    eprintln!("fake-agent: git {} failed", args.join(" "));
                    return Some(97);
                }
            }
        }
        "git-add" => {
            let status = Command::new("git")
                .arg("add")
                .arg(rest)
                .status()
                .expect("fake-agent: git add");
            if !status.success() {
                return Some(97);
            }
        }
        "sleep" => std::thread::sleep(Duration::from_secs_f64(
            rest.parse().expect("sleep SECONDS"),
        )),
        "wait-for" => {
            while !std::path::Path::new(rest).exists() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        "pidfile" => out(std::fs::write(rest, std::process::id().to_string())),
        "spawn-child" => {
            let child = Command::new("sleep")
                .arg("300")
                .spawn()
                .expect("fake-agent: spawn sleep");
            out(std::fs::write(rest, child.id().to_string()));
            std::mem::forget(child);
        }
        "spawn-daemon" => {
            // A server that detaches itself: its own session, reparented to init.
            let status = Command::new("setsid")
                .args(["-f", "sh", "-c", "echo $$ > \"$0\"; exec sleep 300", rest])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("fake-agent: setsid");
            assert!(status.success(), "fake-agent: setsid failed");
            while std::fs::read_to_string(rest).map_or(true, |t| t.trim().is_empty()) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        "ignore-term" => {
            signal_hook::flag::register(
                signal_hook::consts::SIGTERM,
                Arc::new(AtomicBool::new(false)),
            )
            .expect("fake-agent: signal handler");
        }
        "signal" => {
            let sig: nix::sys::signal::Signal = format!("SIG{rest}").parse().expect("signal NAME");
            let _ = nix::sys::signal::raise(sig);
            std::thread::sleep(Duration::from_secs(5));
        }
        "exit" => return Some(rest.parse().expect("exit CODE")),
        "say" => say(&unescape(rest)),
        "tool" => {
            let (name, arg) = rest.split_once(' ').unwrap_or((rest, ""));
            tool(name, arg);
        }
        "cost" => speaker(|s| s.cost = rest.parse().expect("cost USD")),
        "fail" => return Some(finish(Some(rest))),
        "status" => {
            let path = std::env::var_os("GIT_AGENT_STATUS_FILE").expect("GIT_AGENT_STATUS_FILE");
            out(std::fs::write(path, format!("{}\n", unescape(rest))));
        }
        "notify" => {
            let status = Command::new("git")
                .arg("agent")
                .arg("notify")
                .args(rest.split(' '))
                .status()
                .expect("git agent notify");
            if !status.success() {
                eprintln!("fake-agent: git agent notify {rest} failed");
                return Some(95);
            }
        }
        "try-write" => {
            // Like `write`, but a refusal is reported on stdout instead of ending the agent:
            // `wrote PATH` or `denied PATH: ERROR`.
            let (path, content) = rest.split_once(' ').unwrap_or((rest, ""));
            let path = match path.strip_prefix('$').and_then(|p| p.split_once('/')) {
                Some((var, tail)) => {
                    PathBuf::from(std::env::var(var).unwrap_or_default()).join(tail)
                }
                None => PathBuf::from(unescape(path)),
            };
            match std::fs::write(&path, unescape(content)) {
                Ok(()) => println!("wrote {}", path.display()),
                Err(e) => println!("denied {}: {e}", path.display()),
            }
        }
        "try-connect" => {
            // Each Unix socket in the folder REST: `connected PATH` or `refused PATH: ERROR`.
            for entry in std::fs::read_dir(unescape(rest))
                .into_iter()
                .flatten()
                .flatten()
            {
                let path = entry.path();
                match std::os::unix::net::UnixStream::connect(&path) {
                    Ok(_) => println!("connected {}", path.display()),
                    Err(e) => println!("refused {}: {e}", path.display()),
                }
            }
        }
        "step" => {
            let usd: f64 = rest.parse().expect("step USD");
            let (cli, session, spent) = speaker(|s| {
                s.spent += usd;
                (s.cli, s.session.clone(), s.spent)
            });
            match cli {
                Cli::Opencode => emit(
                    serde_json::json!({"type":"step_finish","sessionID":session,"part":{"reason":"tool-calls","tokens":{"input":10,"output":1},"cost":usd}}),
                ),
                Cli::Aider => println!(
                    "Tokens: 10 sent, 1 received. Cost: ${usd:.5} message, ${spent:.5} session."
                ),
                _ => {}
            }
        }
        "rate-limit-unless" => {
            let marker = PathBuf::from(unescape(rest));
            if !marker.exists() {
                std::fs::write(&marker, "").expect("fake-agent: rate-limit marker");
                return Some(finish(Some(RATE_LIMITED)));
            }
        }
        "rate-limit" => return Some(finish(Some(RATE_LIMITED))),
        "tokens" => {
            static MESSAGES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let mut words = rest.split_whitespace();
            let model = words.next().expect("tokens MODEL IN OUT");
            let mut number = || -> u64 {
                words
                    .next()
                    .and_then(|w| w.parse().ok())
                    .expect("tokens MODEL IN OUT")
            };
            let (input, output) = (number(), number());
            let (cli, session) = speaker(|s| (s.cli, s.session.clone()));
            match cli {
                Cli::Claude => {
                    let n = MESSAGES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    emit(
                        serde_json::json!({"type":"assistant","session_id":session,"message":{"id":format!("msg_fake_{n}"),"model":model,"content":[],"usage":{"input_tokens":input,"output_tokens":output}}}),
                    );
                }
                Cli::Codex => emit(
                    serde_json::json!({"type":"turn.completed","usage":{"input_tokens":input,"cached_input_tokens":0,"output_tokens":output}}),
                ),
                Cli::Gemini => {
                    speaker(|s| s.finished = true);
                    let used = serde_json::json!({"total_tokens":input + output,"input_tokens":input,"output_tokens":output,"cached":0});
                    emit(
                        serde_json::json!({"type":"result","status":"success","stats":{"total_tokens":input + output,"input_tokens":input,"output_tokens":output,"cached":0,"models":{model:used}}}),
                    );
                }
                _ => {}
            }
        }
        "lock-or-fail" => {
            let path = PathBuf::from(unescape(rest));
            if let Err(e) = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                eprintln!("fake-agent: {} is held: {e}", path.display());
                return Some(1);
            }
        }
        "unlock" => out(std::fs::remove_file(unescape(rest))),
        "announce" => announce(),
        other => {
            eprintln!("fake-agent: unknown script step '{other}'");
            return Some(96);
        }
    }
    None
}

fn log_call(argv: &[String], stdin: &str) {
    let Some(log) = std::env::var_os("GIT_AGENT_TEST_LOG") else {
        return;
    };
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let cwd = std::env::current_dir()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pgid = nix::unistd::getpgrp().as_raw();
    let record = serde_json::json!({
        "argv": argv,
        "cwd": cwd,
        "env": env,
        "stdin": stdin,
        "pid": std::process::id(),
        "pgid": pgid,
    });
    let mut line = serde_json::to_string(&record).expect("json");
    line.push('\n');
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// The conversation stores of the CLIs we pretend to be, laid out as the real ones lay them
/// out (only the lines git-agent reads): claude's `projects/<key of the real cwd>/<id>.jsonl`
/// and codex's `sessions/YYYY/MM/DD/rollout-…-<id>.jsonl`. A fork copies the original's lines
/// into its own file, as the CLIs do; the original is never written by a fork.
mod transcript {
    use std::io::Write as _;
    use std::path::PathBuf;

    use super::Cli;

    fn home() -> PathBuf {
        PathBuf::from(std::env::var("HOME").unwrap_or_default())
    }

    fn claude_key() -> String {
        let cwd = std::env::current_dir()
            .and_then(|d| d.canonicalize())
            .unwrap_or_default();
        cwd.to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect()
    }

    fn file(cli: Cli, session: &str) -> Option<PathBuf> {
        match cli {
            Cli::Claude => {
                let root = std::env::var_os("CLAUDE_CONFIG_DIR")
                    .map_or_else(|| home().join(".claude"), PathBuf::from);
                Some(
                    root.join("projects")
                        .join(claude_key())
                        .join(format!("{session}.jsonl")),
                )
            }
            Cli::Codex => {
                let root = std::env::var_os("CODEX_HOME")
                    .map_or_else(|| home().join(".codex"), PathBuf::from);
                Some(
                    root.join("sessions/2026/01/01")
                        .join(format!("rollout-2026-01-01T00-00-00-{session}.jsonl")),
                )
            }
            _ => None,
        }
    }

    fn append(path: &PathBuf, line: &serde_json::Value) {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }

    fn cwd() -> String {
        std::env::current_dir()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    }

    /// The run's first lines: a fork's copy of the original, then the prompt.
    pub fn begin(cli: Cli, session: &str, forked: Option<&str>, argv: &[String]) {
        let Some(path) = file(cli, session) else {
            return;
        };
        if let Some(original) = forked.and_then(|id| match cli {
            Cli::Claude => file(cli, id),
            Cli::Codex => rollout_of(id),
            _ => None,
        }) && let Ok(text) = std::fs::read_to_string(&original)
        {
            for line in text.lines() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                    && v["type"] != "session_meta"
                {
                    append(&path, &v);
                }
            }
        }
        let prompt = argv
            .iter()
            .position(|a| a == "-p")
            .and_then(|i| argv.get(i + 1))
            .or_else(|| argv.last())
            .cloned()
            .unwrap_or_default();
        match cli {
            Cli::Claude => append(
                &path,
                &serde_json::json!({"type":"user","sessionId":session,"cwd":cwd(),"message":{"role":"user","content":prompt}}),
            ),
            Cli::Codex => {
                if !path.exists() || forked.is_some() {
                    append(
                        &path,
                        &serde_json::json!({"type":"session_meta","payload":{"id":session,"cwd":cwd()}}),
                    );
                }
                append(
                    &path,
                    &serde_json::json!({"type":"turn_context","payload":{"cwd":cwd()}}),
                );
                append(
                    &path,
                    &serde_json::json!({"type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":prompt}]}}),
                );
            }
            _ => {}
        }
    }

    /// Codex keeps one rollout per thread, wherever it ran.
    fn rollout_of(id: &str) -> Option<PathBuf> {
        let root =
            std::env::var_os("CODEX_HOME").map_or_else(|| home().join(".codex"), PathBuf::from);
        let path = root
            .join("sessions/2026/01/01")
            .join(format!("rollout-2026-01-01T00-00-00-{id}.jsonl"));
        path.exists().then_some(path)
    }

    /// What the agent said.
    pub fn said(cli: Cli, session: &str, text: &str) {
        let path = match cli {
            Cli::Codex => rollout_of(session).or_else(|| file(cli, session)),
            _ => file(cli, session),
        };
        let Some(path) = path else {
            return;
        };
        match cli {
            Cli::Claude => append(
                &path,
                &serde_json::json!({"type":"assistant","sessionId":session,"cwd":cwd(),"message":{"role":"assistant","content":[{"type":"text","text":text}]}}),
            ),
            Cli::Codex => append(
                &path,
                &serde_json::json!({"type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":text}]}}),
            ),
            _ => {}
        }
    }
}
