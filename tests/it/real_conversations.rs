//! Opt-in tier (issue 18): conversations that move and fork, with the real CLIs against the
//! scripted fake model (`tests/real-agents/fake_llm.py`), fully offline. Runs only with
//! `GIT_AGENT_REAL_AGENTS=1` (or a list of CLIs), for claude, codex, gemini, opencode and
//! aider found on `PATH`; anything missing is skipped with a printed reason.
//!
//! For each CLI, what a model would see is checked in the fake server's request log:
//! 1. the user talks to the CLI in the main checkout (`FIRSTMSG`, which also writes a file);
//! 2. `git agent new --continue CLI --take-changes` carries the conversation and the file to
//!    a new worktree: its request (`SECONDMSG`) carries the first exchange;
//! 3. the original still resumes in the main checkout with the CLI's own resume, and its
//!    request (`THIRDMSG`) does not carry `SECONDMSG`;
//! 4. `git agent fork` of that session: the fork's request (`FORKMSG`) carries the session's
//!    conversation; the session's next request (`FIFTHMSG`) does not carry `FORKMSG`;
//! 5. `git agent new --in NAME --read-only`: the model's write (`ROMSG`) is refused by the
//!    CLI's read-only mode (our sandbox off), so nothing appears in the shared worktree.
//!
//! ```sh
//! GIT_AGENT_REAL_AGENTS=1 cargo test --test it real_conversations -- --nocapture
//! ```

#![allow(clippy::disallowed_methods)] // runs the CLIs directly, as the user would

use std::path::{Path, PathBuf};

use crate::real_agents::{configure, installed, serve};
use crate::support::TestEnv;

const SCRIPT: &str = r#"{"conversations": [
  {"match": "ROMSG", "turns": [
    {"text": "Trying to write.", "write": "ro.txt", "content": "should not exist\n"},
    {"text": "REPLY-RO"}]},
  {"match": "FIRSTMSG", "turns": [
    {"text": "I'll note it.", "write": "first.txt", "content": "one\n"},
    {"text": "REPLY-ONE-BANANA"}]},
  {"match": "SECONDMSG", "turns": [{"text": "REPLY-TWO-CHERRY"}]},
  {"match": "THIRDMSG", "turns": [{"text": "REPLY-THREE-DATE"}]},
  {"match": "FORKMSG", "turns": [{"text": "REPLY-FORK-ELDER"}]},
  {"match": "FIFTHMSG", "turns": [{"text": "REPLY-FIVE-FIG"}]},
  {"match": "", "turns": [{"text": "DEFAULT"}]}
], "commit_message": "Apply scripted change", "default_text": "Done."}"#;

/// The user's own run of the CLI in `dir` (resuming `id`), as each CLI's docs show it
/// headless; returns the conversation id it reports (none for aider).
fn user_runs(env: &TestEnv, cli: &str, program: &Path, prompt: &str, id: Option<&str>) -> String {
    let mut args: Vec<String> = match cli {
        "claude" => vec!["-p", prompt, "--output-format", "stream-json", "--verbose"]
            .into_iter()
            .chain(["--permission-mode", "acceptEdits"])
            .map(str::to_owned)
            .collect(),
        "codex" => [
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--sandbox",
            "workspace-write",
        ]
        .map(str::to_owned)
        .to_vec(),
        "gemini" => ["-p", prompt, "--output-format", "stream-json"]
            .into_iter()
            .chain(["--approval-mode", "auto_edit", "--skip-trust"])
            .map(str::to_owned)
            .collect(),
        "opencode" => ["run", "--format", "json"].map(str::to_owned).to_vec(),
        "aider" => [
            "--message",
            prompt,
            "--yes-always",
            "--no-pretty",
            "--no-fancy-input",
        ]
        .into_iter()
        .chain([
            "--no-check-update",
            "--no-show-release-notes",
            "--analytics-disable",
        ])
        .map(str::to_owned)
        .collect(),
        _ => unreachable!(),
    };
    match (cli, id) {
        ("claude" | "gemini", Some(id)) => args.extend(["--resume".into(), id.into()]),
        ("codex", Some(id)) => args.extend(["resume".into(), id.into()]),
        ("opencode", Some(id)) => args.extend(["--session".into(), id.into()]),
        ("aider", Some(_)) => args.push("--restore-chat-history".into()),
        _ => {}
    }
    if matches!(cli, "codex" | "opencode") {
        args.push(prompt.to_owned());
    }
    let mut cmd = env.command(program, &env.repo);
    cmd.args(&args).stdin(std::process::Stdio::null());
    let out = env.run(cmd);
    assert_eq!(out.code, 0, "{cli} {args:?}: {out}");
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| {
            ["session_id", "thread_id", "sessionID"]
                .iter()
                .find_map(|k| v[*k].as_str().map(str::to_owned))
        })
        .unwrap_or_default()
}

/// The body of the last main-loop request whose prompt holds `marker`.
fn request_with(env: &TestEnv, marker: &str) -> String {
    crate::real_agents::model_requests(env)
        .into_iter()
        .rev()
        .find(|r| r["prompt"].as_str().is_some_and(|p| p.contains(marker)))
        .map(|r| r["body"].to_string())
        .unwrap_or_else(|| panic!("no model request for {marker}"))
}

fn done(env: &TestEnv, cli: &str, name: &str) {
    let waited = env.agent(&["wait", "--timeout", "5m", name]);
    let show = env.agent(&["show", name]);
    assert_eq!(
        waited.code, 0,
        "{cli}: {name} did not end done:\n{waited}\n{show}"
    );
}

fn worktree(env: &TestEnv, name: &str) -> PathBuf {
    PathBuf::from(env.record(name)["worktree"].as_str().unwrap())
}

fn one(cli: &str, program: &Path) {
    let mut env = TestEnv::new();
    let server = serve(&env, SCRIPT, &env.repo.clone());
    configure(&mut env, cli, program, &server.base);
    let repo = env.repo.to_string_lossy().into_owned();
    env.set_env("PWD", &repo);

    // 1. The user's conversation in the main checkout; it wrote first.txt there.
    let id = user_runs(&env, cli, program, "FIRSTMSG note it", None);
    assert!(
        env.repo.join("first.txt").exists(),
        "{cli}: FIRSTMSG wrote nothing"
    );

    // 2. Continued in a new worktree, with the change.
    let out = env
        .agent(&[
            "new",
            "--continue",
            cli,
            "--take-changes",
            "--name",
            "c",
            "SECONDMSG go on",
        ])
        .ok();
    done(&env, cli, "c");
    let second = request_with(&env, "SECONDMSG");
    assert!(
        second.contains("FIRSTMSG") && second.contains("REPLY-ONE-BANANA"),
        "{cli}: the continued conversation lacks the first exchange\n{out}"
    );
    assert!(
        worktree(&env, "c").join("first.txt").exists() || {
            // Aider commits what it wrote in the main checkout: nothing to take then.
            cli == "aider"
        }
    );

    // 3. The original still resumes where it was, without the worktree's turn.
    user_runs(&env, cli, program, "THIRDMSG and here", Some(&id));
    let third = request_with(&env, "THIRDMSG");
    assert!(
        third.contains("REPLY-ONE-BANANA") && !third.contains("SECONDMSG"),
        "{cli}: the original was altered (or not resumed)"
    );

    // 4. A fork of c carries c's conversation; c's next turn does not carry the fork's.
    env.agent(&["fork", "c", "FORKMSG another way"]).ok();
    done(&env, cli, "c-fork");
    let fork = request_with(&env, "FORKMSG");
    assert!(
        fork.contains("SECONDMSG") && fork.contains("REPLY-TWO-CHERRY"),
        "{cli}: the fork lacks the conversation it forked"
    );
    env.agent(&["send", "c", "FIFTHMSG and on"]).ok();
    done(&env, cli, "c");
    let fifth = request_with(&env, "FIFTHMSG");
    assert!(
        fifth.contains("REPLY-TWO-CHERRY") && !fifth.contains("FORKMSG"),
        "{cli}: c's conversation was altered by its fork"
    );

    // 5. A read-only session beside c: its write is refused by the CLI's mode alone.
    env.git(&["config", "agent.sandbox", "off"]);
    env.agent(&[
        "new",
        "--in",
        "c",
        "--read-only",
        "--agent",
        cli,
        "--name",
        "ro",
        "ROMSG look",
    ])
    .ok();
    done(&env, cli, "ro");
    let said = env.agent(&["logs", "ro"]);
    assert!(
        crate::real_agents::model_requests(&env)
            .iter()
            .any(|r| r["body"].to_string().contains("ROMSG")),
        "{cli}: the read-only session never asked the model:\n{said}\n{}",
        env.agent(&["show", "ro"])
    );
    assert!(
        !worktree(&env, "c").join("ro.txt").exists(),
        "{cli}: the read-only session wrote into the shared worktree"
    );
    eprintln!("real agent {cli}: continued, resumed where it was, forked, read-only beside");
}

#[test]
fn real_agents_continue_fork_and_share_conversations() {
    for (cli, program) in installed(&["claude", "codex", "gemini", "opencode", "aider"]) {
        one(cli, &program);
    }
}
