//! A plan run by real agent CLIs (the real-agent tier: `GIT_AGENT_REAL_AGENTS=1`, the CLIs on
//! PATH, a scripted fake model on 127.0.0.1; skipped cleanly otherwise): a skeleton task, then
//! two slices that depend on it and get its final summary through `{{ deps }}`; everything
//! lands on `plan/<name>`, validate passes, and the user's checkout is untouched.

use crate::real_agents::{configure, installed, model_requests, serve};
use crate::support::TestEnv;

fn plan_with(cli: &str, program: &std::path::Path) {
    let started = std::time::Instant::now();
    let mut env = TestEnv::new();
    let script = r#"{"conversations": [
  {"match": "Create a file types.txt", "turns": [
    {"text": "Creating it.", "write": "types.txt", "content": "pub struct T;\n"},
    {"text": "Created types.txt with the type T."}]},
  {"match": "Create a file a.txt", "turns": [
    {"text": "Creating it.", "write": "a.txt", "content": "a\n"},
    {"text": "Created a.txt."}]},
  {"match": "Create a file b.txt", "turns": [
    {"text": "Creating it.", "write": "b.txt", "content": "b\n"},
    {"text": "Created b.txt."}]}
], "commit_message": "Apply scripted change"}"#;
    let server = serve(&env, script, &env.repo.clone());
    configure(&mut env, cli, program, &server.base);
    let name = format!("real-{cli}");
    let plan = env.root().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            r#"name = "{name}"
validate = "test -f types.txt && test -f a.txt && test -f b.txt"

[[task]]
id = "skeleton"
agent = "{cli}"
prompt = "Create a file types.txt containing exactly: pub struct T;"
touches = ["types.txt"]

[[task]]
id = "a"
agent = "{cli}"
depends_on = ["skeleton"]
prompt = "Create a file a.txt containing exactly: a\nWhat the skeleton task did:\n{{{{ deps }}}}"
touches = ["a.txt"]

[[task]]
id = "b"
agent = "{cli}"
depends_on = ["skeleton"]
prompt = "Create a file b.txt containing exactly: b\nWhat the skeleton task did:\n{{{{ deps }}}}"
touches = ["b.txt"]
"#
        ),
    )
    .unwrap();
    env.agent(&["plan", "run", plan.to_str().unwrap(), "--trust"])
        .ok();
    let waited = env.agent(&["plan", "wait", &name, "--timeout", "5m"]);
    let status = env.agent(&["plan", "status", &name]);
    let log = std::fs::read_to_string(env.state_dir().join(format!("plans/{name}/log")))
        .unwrap_or_default();
    assert_eq!(
        waited.code, 0,
        "{cli}: the plan did not validate:\n{waited}\n{status}\n{log}"
    );
    let branch = format!("plan/{name}");
    for (file, text) in [
        ("types.txt", "pub struct T;\n"),
        ("a.txt", "a\n"),
        ("b.txt", "b\n"),
    ] {
        assert_eq!(
            env.git(&["show", &format!("{branch}:{file}")]),
            text,
            "{cli}: {status}"
        );
    }
    let commits = env.git(&["rev-list", "--count", &format!("main..{branch}")]);
    assert_eq!(commits.trim(), "3", "{cli}: one commit per task");
    // The slices' agents saw the skeleton's own summary, not its whole conversation. Aider
    // reports no final answer, only what it printed last (its edits and commit lines): its
    // slices get that section, whatever it says.
    let summary = if cli == "aider" {
        "## Task 'skeleton'"
    } else {
        "Created types.txt with the type T."
    };
    let requests = model_requests(&env);
    for slice in ["Create a file a.txt", "Create a file b.txt"] {
        let first = requests
            .iter()
            .find(|e| e["matched"] == slice)
            .unwrap_or_else(|| panic!("{cli}: no request for {slice}"));
        assert!(
            first["body"].to_string().contains(summary),
            "{cli}: {slice} without the skeleton's summary: {first:#}"
        );
    }
    // Nothing touched the user's checkout.
    assert_eq!(env.git(&["status", "--porcelain"]), "", "{cli}");
    eprintln!(
        "real agent {cli}: a 3-task plan validated on {branch} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn real_agents_run_a_plan_with_deps() {
    for (cli, program) in installed(&["claude", "codex", "gemini", "opencode", "aider"]) {
        plan_with(cli, &program);
    }
}
