//! new → running → done/failed/stopped, as a user sees it through list, show, logs, wait.

use crate::support::TestEnv;

#[test]
fn new_returns_while_the_agent_runs_and_records_everything() {
    let env = TestEnv::new();
    let out = env.spawn(
        &["--name", "fix-login", "fix the flaky login test"],
        &format!(
            "print working on it\nwait-for {}\nwrite result.txt done\nprint finished",
            env.path("go").display()
        ),
    );
    assert!(out.stdout.contains("Started fix-login"), "{out}");
    assert!(
        out.stderr
            .contains("hint: follow it with 'git agent logs fix-login -f'"),
        "{out}"
    );

    // It returned while the agent is still blocked on the sentinel file.
    let record = env.record("fix-login");
    assert_eq!(record["state"], "running");
    assert_eq!(record["version"], 1);
    assert_eq!(record["branch"], "agent/fix-login");
    assert_eq!(record["base"]["ref"], "refs/heads/main");
    assert_eq!(
        record["base"]["commit"],
        env.git(&["rev-parse", "HEAD"]).trim()
    );
    assert_eq!(
        record["worktree"],
        env.agents_dir().join("fix-login").to_str().unwrap()
    );
    assert_eq!(record["prompt"], "fix the flaky login test");
    assert!(record["processes"]["agent"]["pid"].as_u64().is_some());
    assert!(record["processes"]["agent"]["start"].as_str().is_some());
    assert!(record["started_at"].as_str().is_some());

    // A real branch and linked worktree exist, locked while the agent runs.
    let wt = env.agents_dir().join("fix-login");
    assert_eq!(
        env.git_in(&wt, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/agent/fix-login"
    );
    let list = env.git(&["worktree", "list", "--porcelain"]);
    assert!(
        list.contains("locked git-agent: agent 'fix-login' is running"),
        "{list}"
    );

    let list = env.agent(&["list"]).ok();
    let line = list
        .stdout
        .lines()
        .find(|l| l.starts_with("fix-login"))
        .unwrap();
    assert!(line.contains("running"), "{list}");
    assert!(
        !list.stdout.contains("BRANCH"),
        "the usual agent/<name> branch is not repeated: {list}"
    );

    env.touch("go");
    env.wait_state("fix-login", "done");
    let record = env.record("fix-login");
    assert_eq!(record["exit"]["code"], 0);
    assert_eq!(record["commit"]["status"], "committed");
    assert!(
        !env.git(&["worktree", "list", "--porcelain"])
            .contains("locked"),
        "unlocked after the end"
    );

    let logs = env.agent(&["logs", "fix-login"]).ok();
    assert_eq!(logs.stdout, "working on it\nfinished\n");
}

#[test]
fn the_agent_gets_a_clean_environment_and_the_prompt() {
    let mut env = TestEnv::new();
    env.set_env("FOO", "bar");
    env.set_env("GIT_INDEX_FILE", "/nonexistent/index");
    env.spawn(
        &["--name", "envcheck", "-m", "line one", "-m", "line two"],
        "print hi",
    );
    let call = env.call_of("envcheck");
    let e = &call["env"];
    let wt = env.agents_dir().join("envcheck");
    assert_eq!(call["cwd"], wt.to_str().unwrap());
    assert_eq!(e["GIT_AGENT_NAME"], "envcheck");
    assert_eq!(e["GIT_AGENT_WORKTREE"], wt.to_str().unwrap());
    assert_eq!(e["GIT_AGENT_REPO"], env.repo.to_str().unwrap());
    assert_eq!(e["GIT_AGENT_BRANCH"], "agent/envcheck");
    assert_eq!(e["GIT_AGENT_BASE"], env.git(&["rev-parse", "HEAD"]).trim());
    assert_eq!(e["GIT_AGENT_BASE_REF"], "refs/heads/main");
    assert_eq!(e["GIT_AGENT_PROMPT"], "line one\n\nline two");
    let prompt_file = e["GIT_AGENT_PROMPT_FILE"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(prompt_file).unwrap(),
        "line one\n\nline two\n"
    );
    // The invoking shell's environment reaches the agent; git's location variables do not.
    assert_eq!(e["FOO"], "bar");
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_EXEC_PATH",
        "GIT_PREFIX",
    ] {
        assert!(e.get(var).is_none(), "{var} leaked into the agent: {e}");
    }
    // Its own process group, stdin closed.
    assert_eq!(call["pid"], call["pgid"]);
    assert_eq!(call["stdin"], "");
}

#[test]
fn agent_exit_codes_and_signals_are_recorded() {
    let env = TestEnv::new();
    env.spawn(&["--name", "ok", "t"], "print fine");
    env.spawn(&["--name", "bad", "t"], "eprint something broke\nexit 3");
    env.spawn(&["--name", "killed", "t"], "signal KILL");
    let waited = env.agent(&["wait", "ok", "bad", "killed"]).code(1);
    assert!(waited.stdout.contains("ok: done (exit 0)"), "{waited}");
    assert!(waited.stdout.contains("bad: failed (exit 3)"), "{waited}");
    assert!(
        waited.stdout.contains("killed: failed (killed by SIGKILL)"),
        "{waited}"
    );

    assert_eq!(env.record("bad")["exit"]["code"], 3);
    assert_eq!(env.record("killed")["exit"]["signal"], 9);
    assert_eq!(env.record("killed")["state"], "failed");

    let logs = env.agent(&["logs", "bad"]).ok();
    assert_eq!(logs.stdout, "something broke\n");

    // What needs the user comes first: failed before done.
    let list = env.agent(&["list"]).ok();
    let names: Vec<&str> = list
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names.last(), Some(&"ok"), "{list}");
    let exit_col = list
        .stdout
        .lines()
        .find(|l| l.starts_with("killed"))
        .unwrap();
    assert!(exit_col.contains("SIGKILL"), "{list}");
    // The note says what the agent said last, which usually says why.
    let bad = list.stdout.lines().find(|l| l.starts_with("bad")).unwrap();
    assert!(bad.contains("exit 3: something b"), "{list}");
}

#[test]
fn wait_exits_zero_only_when_all_are_done() {
    let env = TestEnv::new();
    // Both still running when `wait` starts, however slow the machine (`wait` without names
    // waits for the running ones only); they end on their own a moment later.
    let gate = env.path("go");
    for name in ["a", "b"] {
        env.spawn(
            &["--name", name, "t"],
            &format!("wait-for {}", gate.display()),
        );
    }
    let go = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            std::fs::write(gate, "").unwrap();
        })
    };
    let out = env.agent(&["wait"]).ok();
    go.join().unwrap();
    assert_eq!(out.stdout.lines().count(), 2, "{out}");

    let nothing = env.agent(&["wait"]).ok();
    assert!(nothing.stderr.contains("Nothing to wait for"), "{nothing}");
    env.agent(&["wait", "--all"]).ok();

    env.spawn(
        &["--name", "slow", "t"],
        &format!("wait-for {}", env.path("never").display()),
    );
    let gave_up = env.agent(&["wait", "slow", "--timeout", "300ms"]).code(1);
    assert!(
        gave_up
            .stdout
            .contains("slow: still running (gave up waiting)"),
        "{gave_up}"
    );
    env.agent(&["wait", "nope"]).code(128);
}

#[test]
fn stop_terminates_the_whole_process_group() {
    let env = TestEnv::new();
    let child = env.path("child.pid");
    env.spawn(
        &["--name", "busy", "t"],
        &format!("spawn-child {}\nsleep 300", child.display()),
    );
    let child_pid = env.read_pid(&child);
    let out = env.agent(&["stop", "busy"]).ok();
    assert!(
        out.stdout
            .contains("busy: stopped (stopped by 'git agent stop')"),
        "{out}"
    );
    let record = env.record("busy");
    assert_eq!(record["state"], "stopped");
    assert_eq!(record["exit"]["signal"], 15);
    assert!(
        crate::support::process_gone(child_pid),
        "the agent's child survived the stop"
    );
    // Stopping again is not an error.
    let again = env.agent(&["stop", "busy"]).ok();
    assert!(
        again.stderr.contains("busy is not running (stopped)"),
        "{again}"
    );
}

#[test]
fn stop_escalates_to_sigkill_after_the_grace_period() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "stubborn", "t"],
        &format!(
            "ignore-term\npidfile {}\nsleep 300",
            env.path("pid").display()
        ),
    );
    env.wait_until("the agent to ignore SIGTERM", || env.path("pid").exists());
    let started = std::time::Instant::now();
    env.agent(&["stop", "--grace", "1s", "stubborn"]).ok();
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!(env.record("stubborn")["exit"]["signal"], 9);
    assert_eq!(env.record("stubborn")["state"], "stopped");
}

#[test]
fn timeout_stops_the_agent_with_a_reason() {
    let env = TestEnv::new();
    env.spawn(&["--name", "slow", "--timeout", "1s", "t"], "sleep 60");
    env.wait_state("slow", "stopped");
    let record = env.record("slow");
    assert_eq!(record["reason"], "timed out after 1s");
    assert_eq!(record["timeout_secs"], 1);
    let show = env.agent(&["show", "slow"]).ok();
    assert!(
        show.stdout
            .contains("stopped (killed by SIGTERM) — timed out after 1s"),
        "{show}"
    );
}

#[test]
fn logs_follow_until_the_agent_ends() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "chatty", "t"],
        "print one\nsleep 0.3\nprint two\nsleep 0.3\nprint three",
    );
    let out = env.agent(&["logs", "-f", "chatty"]).ok();
    assert_eq!(out.stdout, "one\ntwo\nthree\n");
    assert!(out.stderr.contains("git-agent: chatty done"), "{out}");
    let tail = env.agent(&["logs", "--tail", "1", "chatty"]).ok();
    assert_eq!(tail.stdout, "three\n");
}

#[test]
fn show_prints_the_record_and_the_log_tail() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "shown", "describe the thing"],
        "print alpha\nprint beta\nwrite new.txt x",
    );
    env.wait_state("shown", "done");
    let out = env.agent(&["show", "shown"]).ok();
    for expected in [
        "session shown",
        "state",
        "done (exit 0)",
        "agent/shown",
        "describe the thing",
        "alpha",
        "beta",
        "leftover changes committed as",
    ] {
        assert!(
            out.stdout.contains(expected),
            "missing {expected:?}:\n{out}"
        );
    }
    let json = env.agent(&["show", "--json", "shown"]).ok().json();
    assert_eq!(json["version"], 1);
    assert_eq!(json["session"]["name"], "shown");
    assert_eq!(json["session"]["state"], "done");
    assert_eq!(json["session"]["log_tail"][1], "beta");
    assert_eq!(json["session"]["changes"]["files"], 1);
    env.agent(&["show", "nope"]).code(128);
}

#[test]
fn list_json_and_empty_list() {
    let env = TestEnv::new();
    let empty = env.agent(&["list"]).ok();
    assert_eq!(empty.stdout, "");
    assert!(
        empty.stderr.contains("No agent sessions") && empty.stderr.contains("hint: start one"),
        "{empty}"
    );
    assert_eq!(
        env.agent(&["list", "--json"]).ok().json()["sessions"],
        serde_json::json!([])
    );

    env.spawn(&["--name", "j", "t"], "write a.txt 1\\n2\\n3");
    env.wait_state("j", "done");
    let json = env.agent(&["list", "--json"]).ok().json();
    let s = &json["sessions"][0];
    assert_eq!(s["name"], "j");
    assert_eq!(s["state"], "done");
    assert_eq!(s["changes"]["files"], 1);
    assert_eq!(s["changes"]["insertions"], 3);
    assert_eq!(s["changes"]["uncommitted"], 0);
}
