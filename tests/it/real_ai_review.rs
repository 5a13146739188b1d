//! `review --ai` with real agent CLIs (the real-agent tier: `GIT_AGENT_REAL_AGENTS=claude,codex`,
//! the CLIs on PATH, a scripted fake model on 127.0.0.1; skipped cleanly otherwise): one CLI
//! implements, the other reviews in its read-only mode. The model first has the reviewer try
//! to write into the main checkout (its mode must refuse it: our sandbox is off for the
//! review), then answers with a `PATH:LINE:` finding and a remark, which land in the open
//! review round; the reviewer's checkout is gone afterwards and the session's worktree as it was.
//!
//! ```sh
//! GIT_AGENT_REAL_AGENTS=claude,codex cargo test --test it real_ai_review -- --nocapture
//! ```

use std::path::Path;

use crate::real_agents::{configure, installed, model_requests, serve};
use crate::support::TestEnv;

/// What shows in the reviewer's model requests that it runs in its read-only mode.
fn read_only_sign(cli: &str) -> &'static str {
    match cli {
        // Claude Code's system reminder in plan mode.
        "claude" => "Plan mode is active",
        // Codex states its sandbox policy to the model.
        _ => "`sandbox_mode` is `read-only`",
    }
}

fn review_with(implementer: (&str, &Path), reviewer: (&str, &Path)) {
    let started = std::time::Instant::now();
    let (writer, reviewer_cli) = (implementer.0, reviewer.0);
    let mut env = TestEnv::new();
    let escape = env.repo.join("review-escape.txt");
    let script = serde_json::json!({"conversations": [
        {"match": "You are reviewing the work of another coding agent", "turns": [
            {"text": "Let me note that.", "write": escape.to_str().unwrap(), "content": "escaped\n"},
            {"text": "calc.txt:1: name the constant 42\nAlso add a test."},
        ]},
        {"match": "Create a file calc.txt", "turns": [
            {"text": "Creating it.", "write": "calc.txt", "content": "answer = 42\n"},
            {"text": "Created calc.txt."},
        ]},
    ], "commit_message": "Apply scripted change"})
    .to_string();
    let server = serve(&env, &script, &env.repo.clone());
    configure(&mut env, writer, implementer.1, &server.base);
    configure(&mut env, reviewer_cli, reviewer.1, &server.base);
    env.agent(&[
        "new",
        "--agent",
        writer,
        "--name",
        "s",
        "Create a file calc.txt containing exactly: answer = 42",
    ])
    .ok();
    let waited = env.agent(&["wait", "s", "--timeout", "5m"]);
    assert_eq!(waited.code, 0, "{writer}: {waited}");
    let wt = env.agents_dir().join("s");
    assert_eq!(
        std::fs::read_to_string(wt.join("calc.txt")).unwrap_or_default(),
        "answer = 42\n",
        "{writer} did not write calc.txt"
    );
    let status = env.git_in(&wt, &["status", "--porcelain"]);

    // Without our sandbox: the reviewer's read-only mode alone must refuse the write.
    env.git(&["config", "agent.sandbox", "off"]);
    let out = env.agent(&["review", "s", "--ai", "--agent", reviewer_cli]);
    let requests = model_requests(&env);
    assert_eq!(
        out.code,
        0,
        "{reviewer_cli} reviewing {writer}: {out}\n{} model requests",
        requests.len()
    );
    assert!(
        out.stderr.contains(&format!("Asking {reviewer_cli} (")),
        "{out}"
    );
    let round = std::fs::read_to_string(env.state_dir().join("sessions/s/reviews/001.md")).unwrap();
    assert!(
        round.contains("## calc.txt:1\n\n```diff\n@@ -0,0 +1 @@\n+answer = 42\n```")
            && round.contains("name the constant 42")
            && round.contains("## General")
            && round.contains("Also add a test."),
        "{reviewer_cli}: {round}"
    );
    let record = env.record("s");
    let run = &record["review_runs"][0];
    assert_eq!(run["reviewer"], reviewer_cli, "{run:#}");
    assert_eq!(run["ok"], true, "{run:#}");
    let mode = run["mode"].as_str().unwrap_or_default().to_owned();
    assert!(
        round.contains(&format!("_From the reviewer ({reviewer_cli}, {mode})._")),
        "{round}"
    );
    // Its mode, as the model saw it, and as it behaved: the write was refused.
    let reviewer_requests: Vec<String> = requests
        .iter()
        .filter(|e| e["matched"] == "You are reviewing the work of another coding agent")
        .map(|e| e["body"].to_string())
        .collect();
    assert!(
        !reviewer_requests.is_empty(),
        "{reviewer_cli}: no review request"
    );
    assert!(
        reviewer_requests
            .iter()
            .any(|b| b.contains(read_only_sign(reviewer_cli))),
        "{reviewer_cli}: no sign of its read-only mode in {}",
        reviewer_requests[0]
    );
    assert!(
        !escape.exists(),
        "{reviewer_cli} wrote while reviewing:\n{out}"
    );
    // Nothing of the session's moved; the reviewer's checkout is gone.
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), status);
    assert_eq!(
        env.git(&["worktree", "list", "--porcelain"])
            .lines()
            .filter(|l| l.starts_with("worktree "))
            .count(),
        2
    );
    eprintln!(
        "real agents: {writer} implemented, {reviewer_cli} ({mode}) reviewed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn real_agents_review_each_others_work() {
    let clis = installed(&["claude", "codex"]);
    let find = |name: &str| clis.iter().find(|(c, _)| *c == name);
    let (Some(claude), Some(codex)) = (find("claude"), find("codex")) else {
        eprintln!("skipped real_ai_review: it needs both claude and codex");
        return;
    };
    review_with((claude.0, &claude.1), (codex.0, &codex.1));
    review_with((codex.0, &codex.1), (claude.0, &claude.1));
}
