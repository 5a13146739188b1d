//! Opt-in tier (issue 19): `review --group G --ai-judge` with real CLIs against the scripted
//! fake model. Claude makes two variants and codex judges them (and the reverse): the judge
//! runs in its read-only mode, its ranking (scripted) shows beside the table, and nothing is
//! merged. Runs only with `GIT_AGENT_REAL_AGENTS=1` (or a list naming both CLIs).
//!
//! ```sh
//! GIT_AGENT_REAL_AGENTS=claude,codex cargo test --test it real_ai_judge -- --nocapture
//! ```

use std::path::Path;

use crate::real_agents::{configure, installed, serve};
use crate::support::TestEnv;

fn judged(maker: &str, maker_program: &Path, judge: &str, judge_program: &Path) {
    let mut env = TestEnv::new();
    let script = serde_json::json!({"conversations": [
        {"match": "You are judging", "turns": [
            {"text": "1. v-2: writes the file as asked\n2. v-1: writes the file too, but later"}]},
        {"match": "Create a file", "turns": [
            {"text": "Writing it.", "write": "hello.txt", "content": "hello\n"},
            {"text": "Created hello.txt."}]},
    ]})
    .to_string();
    let server = serve(&env, &script, &env.repo.clone());
    configure(&mut env, maker, maker_program, &server.base);
    configure(&mut env, judge, judge_program, &server.base);
    let repo = env.repo.to_string_lossy().into_owned();
    env.set_env("PWD", &repo);
    env.agent(&[
        "new",
        "-n",
        "2",
        "--agent",
        maker,
        "--name",
        "v",
        "Create a file hello.txt containing hello",
    ])
    .ok();
    let waited = env.agent(&["wait", "--timeout", "5m", "v-1", "v-2"]);
    assert_eq!(waited.code, 0, "{maker}: {waited}");
    let refs = env.git(&["for-each-ref", "--format=%(refname) %(objectname)"]);
    let out = env.agent(&[
        "review",
        "--group",
        "v",
        "--ai-judge",
        "--no-menu",
        "--agent",
        judge,
    ]);
    assert_eq!(out.code, 0, "{judge} judging {maker}'s variants: {out}");
    let mode = match judge {
        "claude" => "plan",
        _ => "read-only",
    };
    assert!(
        out.stderr
            .contains(&format!("Asking {judge} ({mode}) to judge 2 variants")),
        "{out}"
    );
    assert!(
        out.stdout.contains("  1. v-2: writes the file as asked"),
        "{out}"
    );
    let run = &env.record("v-1")["review_runs"][0];
    assert_eq!(run["ok"], true, "{run}");
    assert_eq!(run["mode"], mode, "{run}");
    assert_eq!(
        env.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        refs,
        "the judge merged or moved something"
    );
    eprintln!("real agents: {maker} made two variants, {judge} ({mode}) ranked them");
}

#[test]
fn real_agents_judge_each_others_variants() {
    let clis = installed(&["claude", "codex"]);
    let [(a, pa), (b, pb)] = clis.as_slice() else {
        eprintln!("skipped the judge tier: it needs both claude and codex");
        return;
    };
    judged(a, pa, b, pb);
    judged(b, pb, a, pa);
}
