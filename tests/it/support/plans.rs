//! Helpers the plan tests share: a config profile per task running the fake agent, and the
//! plan's record as `plan status --json` gives it.

use serde_json::Value;

use super::TestEnv;

/// A config profile `id` running the fake agent with `script`.
pub fn profile(env: &TestEnv, id: &str, script: &str) {
    let path = env.script(&format!("task-{id}"), script);
    env.git(&[
        "config",
        &format!("agent.profile.{id}.command"),
        &format!("fake-agent --script {}", path.display()),
    ]);
}

/// The plan's record and totals (`plan status NAME --json`).
pub fn status(env: &TestEnv, name: &str) -> Value {
    env.agent(&["plan", "status", name, "--json"]).ok().json()
}

/// Task `id` of a `plan status --json` document.
pub fn task(doc: &Value, id: &str) -> Value {
    doc["plan"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no task {id}: {doc}"))
        .clone()
}

/// A time of the record, in nanoseconds.
pub fn ts(v: &Value) -> i128 {
    v.as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_nanosecond())
        .unwrap_or_else(|| panic!("not a time: {v}"))
}
