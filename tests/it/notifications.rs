//! Notifications (issue 16): the supervisor tells the user's `agent.notifyCommand` once per
//! transition into `waiting`, `failed`, `rate-limited`, `over-budget`, `done`, and a plan's
//! into `validated`; `agent.notify.on` narrows the set, `agent.notify=off` silences it; a
//! command from `.git-agent.toml` never runs; a slow or failing command changes nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::TestEnv;
use crate::support::plans::profile;

/// The variables a notification command gets.
const VARS: &[&str] = &[
    "GIT_AGENT_NAME",
    "GIT_AGENT_PLAN",
    "GIT_AGENT_STATE",
    "GIT_AGENT_MESSAGE",
    "GIT_AGENT_REPO",
];

type Call = BTreeMap<String, String>;

/// A script that appends one line per call to `shared/notified` (variables separated by
/// `\x1f`, an unset one as `<unset>`), in one write.
fn recorder(env: &TestEnv) -> String {
    let script = env.path("notify.sh");
    let mut text = String::from("line=''\n");
    for var in VARS {
        text.push_str(&format!(
            "line=\"${{line}}{var}=${{{var}-<unset>}}$(printf '\\037')\"\n"
        ));
    }
    text.push_str(&format!(
        "printf '%s\\n' \"$line\" >> '{}'\n",
        env.path("notified").display()
    ));
    std::fs::write(&script, text).unwrap();
    format!("sh '{}'", script.display())
}

/// A repository whose user git config runs [`recorder`] on every notification.
fn notified_env() -> TestEnv {
    let env = TestEnv::new();
    let command = recorder(&env);
    env.git(&["config", "--global", "agent.notifyCommand", &command]);
    env
}

/// Every call so far.
fn calls(env: &TestEnv) -> Vec<Call> {
    let text = std::fs::read_to_string(env.path("notified")).unwrap_or_default();
    text.lines()
        .map(|line| {
            line.split('\u{1f}')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// The calls about session (or plan) `name`, in order, once no more arrive.
fn calls_of(env: &TestEnv, key: &str, name: &str) -> Vec<Call> {
    // A command is started detached: give late ones time to land before counting.
    std::thread::sleep(Duration::from_millis(400));
    calls(env)
        .into_iter()
        .filter(|c| c.get(key).is_some_and(|v| v == name))
        .collect()
}

fn states(calls: &[Call]) -> Vec<&str> {
    calls
        .iter()
        .map(|c| c["GIT_AGENT_STATE"].as_str())
        .collect()
}

/// Runs the fake agent as session `name` and waits until its supervisor is gone.
fn run_to_end(env: &TestEnv, name: &str, script: &str) {
    env.spawn(&["--name", name, "t"], script);
    env.wait_supervisor_gone(name);
}

#[test]
fn done_and_failed_notify_once_naming_the_repository_the_session_and_what_to_run() {
    let env = notified_env();
    run_to_end(&env, "d", "write a.txt a");
    run_to_end(&env, "f", "exit 1");
    let done = calls_of(&env, "GIT_AGENT_NAME", "d");
    assert_eq!(states(&done), ["done"], "{done:?}");
    let repo = env.repo.to_string_lossy().into_owned();
    assert_eq!(done[0]["GIT_AGENT_REPO"], repo);
    assert_eq!(done[0]["GIT_AGENT_PLAN"], "<unset>");
    assert_eq!(
        done[0]["GIT_AGENT_MESSAGE"],
        "repo: d is done. Review it: git agent review d"
    );
    let failed = calls_of(&env, "GIT_AGENT_NAME", "f");
    assert_eq!(states(&failed), ["failed"], "{failed:?}");
    let message = &failed[0]["GIT_AGENT_MESSAGE"];
    assert!(
        message.starts_with("repo: f failed (") && message.ends_with("See: git agent show f"),
        "{message}"
    );
    assert_eq!(calls(&env).len(), 2, "{:?}", calls(&env));
}

#[test]
fn waiting_notifies_per_entry_not_per_report() {
    let env = notified_env();
    let go = env.path("go");
    env.spawn(
        &["--name", "w", "t"],
        &format!(
            "notify waiting need a token\nsleep 0.3\nnotify waiting need a token and a key\n\
             sleep 0.3\nnotify working\nsleep 0.3\nstatus waiting again\nwait-for {}",
            go.display()
        ),
    );
    env.wait_until("the second wait", || {
        states(&calls(&env))
            .iter()
            .filter(|s| **s == "waiting")
            .count()
            == 2
    });
    env.touch("go");
    env.wait_supervisor_gone("w");
    let calls = calls_of(&env, "GIT_AGENT_NAME", "w");
    assert_eq!(states(&calls), ["waiting", "waiting", "done"], "{calls:?}");
    let first = &calls[0]["GIT_AGENT_MESSAGE"];
    assert!(
        first.starts_with("repo: w is waiting for you (need a token). Answer: git agent send w"),
        "{first}"
    );
    assert!(
        calls[1]["GIT_AGENT_MESSAGE"].contains("(again)"),
        "{calls:?}"
    );
}

#[test]
fn each_entry_into_rate_limited_notifies_and_so_does_the_failure_after() {
    let mut env = notified_env();
    env.install_fake("claude");
    let script = env.script("agent", "rate-limit");
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.git(&["config", "agent.retry.base", "1s"]);
    env.git(&["config", "agent.retry.max", "2"]);
    env.agent(&["new", "--agent", "claude", "--name", "r", "t"])
        .ok();
    env.wait_state("r", "failed");
    env.wait_supervisor_gone("r");
    let calls = calls_of(&env, "GIT_AGENT_NAME", "r");
    assert_eq!(
        states(&calls),
        ["rate-limited", "rate-limited", "failed"],
        "{calls:?}"
    );
    assert!(
        calls[0]["GIT_AGENT_MESSAGE"].contains("it resumes by itself"),
        "{calls:?}"
    );
}

#[test]
fn over_budget_notifies_once() {
    let mut env = notified_env();
    env.install_fake("claude");
    let script = env.script(
        "spend",
        "tokens claude-opus-4-8 10000 1000\nsleep 0.3\ntokens claude-opus-4-8 10000 1000\nsleep 30",
    );
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&[
        "new", "--agent", "claude", "--name", "k", "--budget", "0.10", "t",
    ])
    .ok();
    env.wait_state("k", "over-budget");
    env.wait_supervisor_gone("k");
    let calls = calls_of(&env, "GIT_AGENT_NAME", "k");
    assert_eq!(states(&calls), ["over-budget"], "{calls:?}");
    assert!(
        calls[0]["GIT_AGENT_MESSAGE"].contains("stopped at its budget (over budget: spent"),
        "{calls:?}"
    );
}

#[test]
fn agent_notify_on_narrows_the_set_and_off_silences_everything() {
    let env = notified_env();
    env.git(&["config", "agent.notify.on", "failed, rate-limited"]);
    run_to_end(&env, "d", "write a.txt a");
    run_to_end(&env, "f", "exit 1");
    assert!(calls_of(&env, "GIT_AGENT_NAME", "d").is_empty());
    assert_eq!(states(&calls_of(&env, "GIT_AGENT_NAME", "f")), ["failed"]);

    env.git(&["config", "agent.notify", "off"]);
    run_to_end(&env, "f2", "exit 1");
    run_to_end(&env, "d2", "write b.txt b");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(calls(&env).len(), 1, "{:?}", calls(&env));
}

#[test]
fn a_plan_that_ends_validated_notifies_once_naming_the_plan() {
    let env = notified_env();
    env.write(
        "plan.toml",
        "name = \"p\"\nvalidate = \"true\"\n\n[[task]]\nid = \"t\"\nagent = \"t\"\nprompt = \"Do t\"\n",
    );
    profile(&env, "t", "write t.txt t\nprint Did t.");
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    env.agent(&["plan", "wait", "--timeout", "120s"]).code(0);
    let calls = calls_of(&env, "GIT_AGENT_PLAN", "p");
    // The task's own session ending `done` is no news: the plan lands it.
    assert_eq!(states(&calls), ["validated"], "{calls:?}");
    assert_eq!(calls[0]["GIT_AGENT_NAME"], "<unset>");
    assert_eq!(
        calls[0]["GIT_AGENT_MESSAGE"],
        "repo: plan p is validated. Land it: git agent plan land p"
    );
}

#[test]
fn a_notify_command_in_the_project_file_never_runs() {
    let env = TestEnv::new();
    let marker = env.path("project-notified");
    env.write(
        ".git-agent.toml",
        &format!(
            "notifyCommand = \"touch {0}\"\nnotify_command = \"touch {0}\"\n",
            marker.display()
        ),
    );
    env.git(&["add", "."]);
    env.git(&["commit", "-q", "-m", "project"]);
    let out = env.spawn(&["--name", "d", "t"], "write a.txt a");
    assert!(
        out.stderr.contains("'notifyCommand' is ignored")
            && out
                .stderr
                .contains("git config --global agent.notifyCommand"),
        "{out}"
    );
    env.wait_supervisor_gone("d");
    std::thread::sleep(Duration::from_millis(400));
    assert!(!marker.exists());
}

#[test]
fn a_slow_or_failing_notify_command_changes_nothing() {
    let env = TestEnv::new();
    for (name, command) in [("slow", "sleep 30"), ("failing", "exit 1")] {
        env.git(&["config", "--global", "agent.notifyCommand", command]);
        let started = Instant::now();
        run_to_end(&env, name, "write a.txt a");
        assert_eq!(env.stored_state(name), "done");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: took {:?}",
            started.elapsed()
        );
        // Nothing of ours is held while the command runs.
        let list = env.agent(&["list"]).ok();
        assert!(list.stdout.contains(name), "{list}");
    }
}

#[test]
fn the_session_a_live_viewer_shows_is_not_notified() {
    let env = notified_env();
    std::fs::create_dir_all(env.state_dir()).unwrap();
    // This test process plays the viewer (`git agent watch`) showing `seen`.
    let me = std::process::id();
    std::fs::write(
        env.state_dir().join("watching"),
        format!("{{\"session\": \"seen\", \"process\": {{\"pid\": {me}}}}}"),
    )
    .unwrap();
    run_to_end(&env, "seen", "write a.txt a");
    run_to_end(&env, "other", "write b.txt b");
    assert!(calls_of(&env, "GIT_AGENT_NAME", "seen").is_empty());
    assert_eq!(states(&calls_of(&env, "GIT_AGENT_NAME", "other")), ["done"]);
}

/// Whether process `pid` is gone (a zombie not yet reaped counts: it runs nothing).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_hung_notify_command_is_killed_after_agent_notify_timeout_and_the_log_says_so() {
    let env = TestEnv::new();
    let pid_file = env.path("notify.pid");
    env.git(&[
        "config",
        "--global",
        "agent.notifyCommand",
        &format!("echo $$ > '{}'; sleep 600", pid_file.display()),
    ]);
    env.git(&["config", "--global", "agent.notifyTimeout", "1s"]);
    let started = Instant::now();
    run_to_end(&env, "d", "write a.txt a");
    // The supervisor announced and left; the command still runs, under its watchdog.
    assert!(started.elapsed() < Duration::from_secs(10));
    env.wait_until("the command's pid", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|p| p.ends_with('\n'))
    });
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();
    let log = env.state_dir().join("notify.log");
    env.wait_until("the command killed and logged", || {
        gone(&pid)
            && std::fs::read_to_string(&log)
                .is_ok_and(|l| l.contains("agent.notifyCommand killed after 1s"))
    });
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// No session bus and no command: nothing is shown, and that is said once (a line in
/// `notify.log`, and `git agent config` beside `agent.notifyCommand`), not once per notice.
#[test]
fn a_notification_that_goes_nowhere_is_said_once() {
    let env = TestEnv::new();
    run_to_end(&env, "d1", "write a.txt a");
    run_to_end(&env, "f1", "exit 1");
    run_to_end(&env, "d2", "write b.txt b");
    std::thread::sleep(Duration::from_millis(400));
    let log = std::fs::read_to_string(env.state_dir().join("notify.log")).unwrap();
    let said = log
        .lines()
        .filter(|l| l.contains("a notification was not shown: no desktop session bus"))
        .count();
    assert_eq!(said, 1, "{log}");
    let config = env.agent(&["config"]).ok();
    assert!(
        config.stdout.contains("notifications go nowhere"),
        "{config}"
    );
}
