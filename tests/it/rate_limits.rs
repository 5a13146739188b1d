//! Rate and usage limits (issue 14): a run whose CLI gave up on a limit ends `rate-limited`,
//! and the session resumes its own conversation by itself when the limit lifts; retries are
//! bounded, stoppable, held by `pause`, and keep the profile's queued sessions waiting.

use crate::support::TestEnv;

/// The fake agent installed as `claude`, running `script`, with fast retries.
fn claude(script: &str) -> TestEnv {
    claude_with(|_| script.to_owned())
}

/// [`claude`] with a script that names the environment's own paths.
fn claude_with(script: impl FnOnce(&TestEnv) -> String) -> TestEnv {
    let mut env = TestEnv::new();
    env.install_fake("claude");
    let path = env.script("agent", &script(&env));
    env.set_env("GIT_AGENT_TEST_SCRIPT", path.to_str().unwrap());
    env.git(&["config", "agent.retry.base", "1s"]);
    env
}

/// Limited on the first run only, then writes `file`.
fn limited_once(env: &TestEnv, file: &str) -> String {
    format!(
        "rate-limit-unless {}\nwrite {file} finished",
        env.path("limited-once").display()
    )
}

#[test]
fn a_rate_limited_run_is_resumed_in_its_own_conversation_and_finishes() {
    let env = claude_with(|env| limited_once(env, "done.txt"));
    env.git(&["config", "agent.retry.base", "3s"]);
    env.agent(&["new", "--agent", "claude", "--name", "r", "t"])
        .ok();
    let limited = env.wait_state("r", "rate-limited");
    assert_eq!(limited["retry"]["attempt"], 1, "{limited:#}");
    assert!(
        limited["retry"]["message"]
            .as_str()
            .unwrap()
            .contains("429"),
        "{limited:#}"
    );
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stdout.contains("rate-limited") && list.stdout.contains("retry 1 at "),
        "{list}"
    );
    let done = env.wait_state("r", "done");
    let runs = done["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{done:#}");
    assert_eq!(runs[0]["state"], "rate-limited", "{done:#}");
    assert_eq!(runs[1]["kind"], "retry", "{done:#}");
    assert_eq!(runs[1]["resumed"], true, "its own conversation: {done:#}");
    let id = done["agent_session_id"].as_str().unwrap();
    let args: Vec<&str> = runs[1]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.windows(2).any(|w| w == ["--resume", id]), "{args:?}");
    assert!(done.get("retry").is_none(), "{done:#}");
    let events = env.agent(&["events"]).ok();
    assert!(events.stdout.contains("rate-limited"), "{events}");
    assert!(
        env.git(&["ls-tree", "--name-only", "agent/r"])
            .contains("done.txt")
    );
}

#[test]
fn retries_are_bounded_and_say_so() {
    let env = claude("rate-limit");
    env.git(&["config", "agent.retry.max", "1"]);
    env.agent(&["new", "--agent", "claude", "--name", "r", "t"])
        .ok();
    let failed = env.wait_state("r", "failed");
    assert_eq!(failed["runs"].as_array().unwrap().len(), 2, "{failed:#}");
    let reason = failed["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("rate-limited (gave up after 1 automatic retries): ")
            && reason.contains("429"),
        "{failed:#}"
    );
    // No retries at all.
    let env = claude("rate-limit");
    env.git(&["config", "agent.retry.max", "0"]);
    env.agent(&["new", "--agent", "claude", "--name", "z", "t"])
        .ok();
    let failed = env.wait_state("z", "failed");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .starts_with("rate-limited (agent.retry.max is 0): "),
        "{failed:#}"
    );
    assert_eq!(failed["runs"].as_array().unwrap().len(), 1);
}

#[test]
fn a_waiting_retry_is_stopped_held_by_pause_and_holds_back_its_profile() {
    let env = claude("rate-limit");
    env.git(&["config", "agent.retry.base", "1h"]);
    env.agent(&["new", "--agent", "claude", "--name", "a", "t"])
        .ok();
    env.wait_state("a", "rate-limited");
    // Another session of the same profile waits rather than run into the same limit.
    let out = env
        .agent(&["new", "--agent", "claude", "--name", "b", "t"])
        .ok();
    assert!(out.stdout.contains("Queued b"), "{out}");
    env.wait_until("b's queued event to say why", || {
        std::fs::read_to_string(env.state_dir().join("events.jsonl"))
            .unwrap()
            .contains("claude is rate-limited (a)")
    });
    let stop = env.agent(&["stop", "a"]).ok();
    assert!(stop.stdout.contains('a'), "{stop}");
    let a = env.record("a");
    assert_eq!(a["state"], "stopped", "{a:#}");
    assert!(
        a["reason"]
            .as_str()
            .unwrap()
            .contains("while it waited to retry"),
        "{a:#}"
    );
    // Its slot and its profile are free: b starts (and is limited in turn).
    env.wait_state("b", "rate-limited");

    // pause holds a retry that is due.
    let env = claude_with(|env| limited_once(env, "x.txt"));
    env.git(&["config", "agent.retry.base", "3s"]);
    env.agent(&["new", "--agent", "claude", "--name", "p", "t"])
        .ok();
    env.wait_state("p", "rate-limited");
    env.agent(&["pause"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(4500));
    assert_eq!(env.stored_state("p"), "rate-limited", "held by the pause");
    env.agent(&["unpause"]).ok();
    env.wait_state("p", "done");
}
