//! A running plan's failure paths: a landing that conflicts (one `sync --ask-agent` round,
//! then blocked), a failing `verify` (retries, blocked), approval of a plan's commands,
//! kill -9 of supervisors mid-plan and `plan resume`, a landing the record missed, `plan stop`
//! and `plan rm`, and bad input refused with nothing started.

use serde_json::Value;

use crate::support::TestEnv;

/// A config profile `id` running the fake agent with `script`.
fn profile(env: &TestEnv, id: &str, script: &str) {
    let path = env.script(&format!("task-{id}"), script);
    env.git(&[
        "config",
        &format!("agent.profile.{id}.command"),
        &format!("fake-agent --script {}", path.display()),
    ]);
}

/// The plan's record (`plan status --json`).
fn status(env: &TestEnv, name: &str) -> Value {
    env.agent(&["plan", "status", name, "--json"]).ok().json()
}

fn task(doc: &Value, id: &str) -> Value {
    doc["plan"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no task {id}: {doc}"))
        .clone()
}

fn wait(env: &TestEnv, name: &str) -> crate::support::Out {
    env.agent(&["plan", "wait", name, "--timeout", "120s"])
}

/// The subjects of the integration branch's commits since main, oldest first.
fn subjects(env: &TestEnv, name: &str) -> Vec<String> {
    env.git(&[
        "log",
        "--format=%s",
        "--reverse",
        &format!("main..plan/{name}"),
    ])
    .lines()
    .map(str::to_owned)
    .collect()
}

/// The fake agent's calls for session `name`: one per run.
fn calls_of(env: &TestEnv, name: &str) -> Vec<Value> {
    env.calls()
        .into_iter()
        .filter(|c| c["env"]["GIT_AGENT_NAME"] == name)
        .collect()
}

fn runs_of(env: &TestEnv, name: &str) -> usize {
    calls_of(env, name).len()
}

const CLASH: &str = r#"name = "clash"
base = "main"

[[task]]
id = "left"
agent = "left"
prompt = "Greet from the left"
touches = ["left/**"]

[[task]]
id = "right"
agent = "right"
prompt = "Greet from the right"
touches = ["right/**"]
"#;

/// The clash plan, with `right` waiting for the sentinel `go` so that `left` lands first.
/// `SHARED` in `right`'s script is the shared folder.
fn clash_env(right: &str) -> TestEnv {
    let env = TestEnv::new();
    let right = right.replace("SHARED", &env.path("").to_string_lossy());
    env.write("plan.toml", CLASH);
    profile(&env, "left", "write README.md left\ncommit left");
    let go = env.path("go");
    profile(
        &env,
        "right",
        &format!("wait-for {}\n{right}", go.display()),
    );
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    env.wait_until("left to land", || {
        task(&status(&env, "clash"), "left")["state"] == "landed"
    });
    env.touch("go");
    env
}

#[test]
fn a_conflicting_landing_gets_one_ask_agent_round_then_lands() {
    // Its second run (the follow-up) writes the file again and commits: the merge concludes.
    let env = clash_env("write README.md right\ncommit right");
    let waited = wait(&env, "clash").code(0);
    assert!(waited.stdout.contains("plan clash: validated"), "{waited}");
    let doc = status(&env, "clash");
    let right = task(&doc, "right");
    assert_eq!(right["state"], "landed", "{right}");
    assert_eq!(right["sync_rounds"], 1, "{right}");
    assert_eq!(task(&doc, "left")["sync_rounds"], 0);
    // The round was a second run of the same session, told about the conflict.
    assert_eq!(runs_of(&env, "clash-right"), 2);
    let follow_up = calls_of(&env, "clash-right")[1]["argv"].to_string();
    assert!(follow_up.contains("stopped at conflicts"), "{follow_up}");
    assert_eq!(
        subjects(&env, "clash"),
        ["Greet from the left", "Greet from the right"]
    );
    assert_eq!(env.git(&["show", "plan/clash:README.md"]).trim(), "right");
    assert_eq!(
        right["landed"].as_str().unwrap(),
        env.git(&["rev-parse", "plan/clash"]).trim()
    );
}

#[test]
fn a_conflict_left_after_the_agents_round_blocks_the_task_and_the_plan() {
    // The follow-up run fails at once (its lock file exists): the conflict stays.
    let env = clash_env("lock-or-fail SHARED/right.lock\nwrite README.md right\ncommit right");
    let waited = wait(&env, "clash").code(1);
    assert!(
        waited.stdout.contains("plan clash: blocked") && waited.stdout.contains("right is blocked"),
        "{waited}"
    );
    assert!(
        waited
            .stderr
            .contains("hint: see what it needs: git agent plan status clash")
    );
    let doc = status(&env, "clash");
    assert_eq!(doc["plan"]["state"], "blocked");
    let right = task(&doc, "right");
    assert_eq!(right["state"], "blocked", "{right}");
    assert_eq!(right["sync_rounds"], 1, "{right}");
    let reason = right["reason"].as_str().unwrap();
    assert!(reason.contains("README.md"), "{reason}");
    assert!(reason.contains("plan/clash"), "{reason}");
    assert_eq!(runs_of(&env, "clash-right"), 2);
    // Nothing of it landed; its branch and worktree still hold its work.
    assert_eq!(subjects(&env, "clash"), ["Greet from the left"]);
    assert!(right.get("landed").is_none(), "{right}");
    assert_eq!(
        env.git(&["log", "-1", "--format=%s", "agent/clash-right"])
            .trim(),
        "right"
    );
    let wt = env.agents_dir().join("clash-right");
    let readme = std::fs::read_to_string(wt.join("README.md")).unwrap();
    assert!(
        readme.contains("right") && readme.contains("left"),
        "{readme}"
    );
    assert!(env.has_record("clash-right"));
}
