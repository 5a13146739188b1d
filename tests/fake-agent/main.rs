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
//!   commit MESSAGE      git add -A && git commit
//!   sleep SECONDS       (fractions allowed)       wait-for PATH   until the file exists
//!   pidfile PATH        write our pid             spawn-child PIDFILE  start `sleep 300` in our group
//!   ignore-term         survive SIGTERM           signal NAME     send ourselves KILL, TERM, SEGV…
//!   exit CODE

#![allow(clippy::disallowed_methods)] // a test tool, not part of the product

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

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
    let Some(script) = script else {
        return ExitCode::SUCCESS;
    };
    let text = match std::fs::read_to_string(&script) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("fake-agent: cannot read script {}: {e}", script.display());
            return ExitCode::from(99);
        }
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        if let Some(code) = step(verb, rest) {
            return ExitCode::from(code);
        }
    }
    ExitCode::SUCCESS
}

fn unescape(text: &str) -> String {
    text.replace("\\n", "\n")
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
            let path = PathBuf::from(path);
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
