//! Runner plugins (issue 17): a session run through `git-agent-runner-testplug`, which speaks
//! the JSON-lines protocol and runs the fake agent in a clone of its own, as a cluster plugin
//! would run it elsewhere. What comes back is checked and lands on the local branch.

use crate::support::{TestEnv, process_gone};

/// A test world with the test plugin on PATH as runner `testplug`, and the host variables
/// the fake agent needs in its (allowlisted) environment: its call log and a git identity.
pub fn plugin_env() -> TestEnv {
    let mut env = TestEnv::new();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_git-agent-runner-testplug"),
        env.bin.join("git-agent-runner-testplug"),
    )
    .unwrap();
    for name in [
        "GIT_AGENT_TEST_LOG",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ] {
        env.git(&["config", "--add", "agent.runner.env", name]);
    }
    // A host secret: the agent must not see it (no whole host environment, ever).
    env.set_env("SECRET_TOKEN", "hunter2");
    env
}

fn rev(env: &TestEnv, spec: &str) -> String {
    env.git(&["rev-parse", spec]).trim().to_owned()
}

#[test]
fn a_session_runs_through_a_plugin_in_a_clone_of_its_own_and_lands_here() {
    let env = plugin_env();
    let log = env.path("host-messages.jsonl");
    let mut env = env;
    env.set_env("GIT_AGENT_TESTPLUG_LOG", log.to_str().unwrap());
    env.spawn(
        &["--runner", "testplug", "--name", "far", "add two files"],
        "write done.txt committed\ncommit the agent's commit\nwrite left.txt uncommitted\n\
         print hello from afar\neprint a warning from afar",
    );
    let record = env.wait_state("far", "done");
    assert_eq!(record["runner"]["kind"], "plugin");
    assert_eq!(record["runner"]["name"], "testplug");
    assert!(
        record["runner"]["handle"]
            .as_str()
            .is_some_and(|h| h.starts_with("testplug-")),
        "{record}"
    );
    assert_eq!(record["sandbox"]["in_force"]["kind"], "runner");
    assert!(
        record["sandbox"]["in_force"]["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("plugin testplug: ")),
        "{record}"
    );

    // The agent ran elsewhere: not in the worktree, not in the repository.
    let worktree = env.agents_dir().join("far");
    let call = env.call_of("far");
    let cwd = call["cwd"].as_str().unwrap();
    assert!(
        !cwd.starts_with(worktree.to_str().unwrap())
            && !cwd.starts_with(env.repo.to_str().unwrap()),
        "the agent ran in {cwd}"
    );
    // With the spec's environment only: ours, the allowlisted names, never the host's rest.
    assert_eq!(call["env"]["GIT_AGENT_BRANCH"], "agent/far");
    assert_eq!(call["env"]["GIT_AUTHOR_NAME"], "Test Author");
    assert!(call["env"].get("SECRET_TOKEN").is_none(), "{call}");

    // Its commit and what it left uncommitted are on the local branch and in the worktree.
    let base = record["base"]["commit"].as_str().unwrap().to_owned();
    assert_eq!(env.git(&["show", "agent/far:done.txt"]), "committed\n");
    assert_eq!(env.git(&["show", "agent/far:left.txt"]), "uncommitted\n");
    let log_msgs = env.git(&["log", "--format=%s", &format!("{base}..agent/far")]);
    assert!(log_msgs.contains("the agent's commit"), "{log_msgs}");
    assert_eq!(
        std::fs::read_to_string(worktree.join("left.txt")).unwrap(),
        "uncommitted\n"
    );
    assert_eq!(env.git_in(&worktree, &["status", "--porcelain"]), "");
    assert!(
        env.git(&["for-each-ref", "refs/agent-incoming"]).is_empty(),
        "nothing waits under refs/agent-incoming once brought in"
    );

    // Its output streamed into the log like a local agent's.
    let logs = env.agent(&["logs", "far"]).ok();
    assert!(logs.stdout.contains("hello from afar"), "{logs}");
    assert!(logs.stdout.contains("a warning from afar"), "{logs}");

    // The protocol as the plugin saw it: hello, then start with a bundle and the argv.
    let sent = std::fs::read_to_string(&log).unwrap();
    let messages: Vec<serde_json::Value> = sent
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        messages[0],
        serde_json::json!({"type": "hello", "version": 1})
    );
    assert_eq!(messages[1]["type"], "start");
    assert_eq!(messages[1]["branch"], "agent/far");
    assert_eq!(messages[1]["base"], base.as_str());
    assert!(messages[1]["env"].get("SECRET_TOKEN").is_none());
    assert_eq!(messages.last().unwrap()["type"], "collect");

    let show = env.agent(&["show", "far"]).ok();
    assert!(show.stdout.contains("plugin testplug ("), "{show}");
    assert!(show.stdout.contains(", run testplug-"), "{show}");

    // Review and merge work as for any session.
    env.agent(&["review", "far", "--stat"]).ok();
    env.agent(&["merge", "far"]).ok();
    assert_eq!(
        std::fs::read_to_string(env.repo.join("left.txt")).unwrap(),
        "uncommitted\n"
    );
}

#[test]
fn stop_stops_the_agent_through_the_plugin_and_keeps_its_work() {
    let env = plugin_env();
    let pid = env.path("agent.pid");
    env.spawn(
        &["--runner", "testplug", "--name", "halt", "t"],
        &format!(
            "write partial.txt half done\npidfile {}\nsleep 300",
            pid.display()
        ),
    );
    let agent_pid = env.read_pid(&pid);
    let plugin_pid = env.record("halt")["processes"]["agent"]["pid"]
        .as_i64()
        .unwrap();
    let out = env.agent(&["stop", "halt"]).ok();
    assert!(out.stdout.contains("halt: stopped"), "{out}");
    let record = env.record("halt");
    assert_eq!(record["state"], "stopped");
    assert!(process_gone(agent_pid), "the agent survived the stop");
    assert!(
        process_gone(i32::try_from(plugin_pid).unwrap()),
        "the plugin survived the stop"
    );
    // What it left uncommitted when stopped was committed over there and brought back.
    assert_eq!(env.git(&["show", "agent/halt:partial.txt"]), "half done\n");
}

#[test]
fn a_result_that_is_no_bundle_fails_the_run_and_leaves_the_branch_alone() {
    let mut env = plugin_env();
    env.set_env("GIT_AGENT_TESTPLUG_RESULT", "garbage");
    let base = rev(&env, "main");
    env.spawn(
        &["--runner", "testplug", "--name", "junk", "t"],
        "write a.txt x\ncommit a",
    );
    let record = env.wait_state("junk", "failed");
    let reason = record["reason"].as_str().unwrap();
    assert!(
        reason.contains("could not be brought back") && reason.contains("not a bundle"),
        "{reason}"
    );
    assert_eq!(rev(&env, "agent/junk"), base);
    assert!(!env.agents_dir().join("junk").join("a.txt").exists());
}

#[test]
fn a_bundle_written_before_an_error_is_kept_aside_not_dropped() {
    let mut env = plugin_env();
    env.set_env("GIT_AGENT_TESTPLUG_RESULT", "then-error");
    let base = rev(&env, "main");
    env.spawn(
        &["--runner", "testplug", "--name", "lost-status", "t"],
        "write a.txt x\ncommit made before the error",
    );
    let record = env.wait_state("lost-status", "failed");
    let reason = record["reason"].as_str().unwrap();
    assert!(
        reason.contains("the cluster lost the job's status")
            && reason.contains("refs/agent-incoming/lost-status"),
        "{reason}"
    );
    // The branch did not move on a run the plugin called failed; the work waits aside.
    assert_eq!(rev(&env, "agent/lost-status"), base);
    let kept = env.git(&[
        "log",
        "-1",
        "--format=%s",
        "refs/agent-incoming/lost-status",
    ]);
    assert_eq!(kept.trim(), "made before the error");
}

#[test]
fn a_plugin_that_cannot_start_the_run_fails_it_with_its_reason() {
    let mut env = plugin_env();
    env.set_env("GIT_AGENT_TESTPLUG_REFUSE", "no cluster at this address");
    let base = rev(&env, "main");
    let fake = env.fake("refused", "write a.txt x");
    let mut args = vec!["new", "--runner", "testplug", "--name", "refused", "t"];
    args.extend(fake.iter().map(String::as_str));
    let started = std::time::Instant::now();
    let out = env.agent(&args).code(128);
    assert!(
        out.stderr
            .contains("git-agent-runner-testplug could not start: no cluster at this address"),
        "{out}"
    );
    // Told the run is over (its stdin closed), the plugin ended at once: nothing waited.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{out}"
    );
    assert_eq!(env.stored_state("refused"), "failed");
    assert_eq!(rev(&env, "agent/refused"), base);
    assert!(
        env.calls()
            .iter()
            .all(|c| c["env"]["GIT_AGENT_NAME"] != "refused")
    );
}

#[test]
fn a_branch_moved_here_meanwhile_keeps_the_result_under_agent_incoming() {
    let env = plugin_env();
    let go = env.path("go");
    env.spawn(
        &["--runner", "testplug", "--name", "race", "t"],
        &format!("write a.txt agent\ncommit agent\nwait-for {}", go.display()),
    );
    env.call_of("race");
    // The user commits on the session's branch here while the agent works over there.
    let worktree = env.agents_dir().join("race");
    std::fs::write(worktree.join("mine.txt"), "user\n").unwrap();
    env.git_in(&worktree, &["add", "mine.txt"]);
    env.git_in(&worktree, &["commit", "-q", "-m", "the user's own"]);
    let users = rev(&env, "agent/race");
    env.touch("go");
    let record = env.wait_state("race", "failed");
    let reason = record["reason"].as_str().unwrap();
    assert!(
        reason.contains("moved here") && reason.contains("refs/agent-incoming/race"),
        "{reason}"
    );
    // Nothing lost: the user's commit is the branch, the agent's waits beside it.
    assert_eq!(rev(&env, "agent/race"), users);
    assert_eq!(
        env.git(&["show", "refs/agent-incoming/race:a.txt"]),
        "agent\n"
    );
}

#[test]
fn a_lost_supervisor_ends_the_plugins_run_and_its_work_is_kept() {
    let env = plugin_env();
    let pid = env.path("agent.pid");
    env.spawn(
        &["--runner", "testplug", "--name", "orphan", "t"],
        &format!(
            "write wip.txt in progress\npidfile {}\nsleep 300",
            pid.display()
        ),
    );
    let agent_pid = env.read_pid(&pid);
    env.kill_supervisor("orphan");
    // The plugin saw its stdin end: it stops the agent by itself.
    env.wait_until("the agent to be stopped by the plugin", || {
        process_gone(agent_pid)
    });
    env.agent(&["stop", "orphan"]).ok();
    assert_eq!(env.stored_state("orphan"), "stopped");
    // Its leftovers came back as a result, kept where nothing of the user's moves.
    assert_eq!(
        env.git(&["show", "refs/agent-incoming/orphan:wip.txt"]),
        "in progress\n"
    );
}

#[test]
fn an_unknown_runner_is_fatal_and_names_the_program() {
    let env = plugin_env();
    let out = env.agent(&["new", "--runner", "nosuch", "t", "--", "fake-agent"]);
    let out = out.code(128);
    assert!(
        out.stderr.contains(
            "fatal: no runner 'nosuch' (--runner): git-agent-runner-nosuch is not on PATH"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("hint: the runners: local"), "{out}");
    env.git(&["config", "agent.runner", "nosuch"]);
    let out = env.agent(&["new", "t", "--", "fake-agent"]).code(128);
    assert!(out.stderr.contains("(agent.runner)"), "{out}");
    let out = env
        .agent(&["new", "--runner", "../bin/x", "t", "--", "fake-agent"])
        .code(2);
    assert!(out.stderr.contains("unknown runner '../bin/x'"), "{out}");
    assert!(!env.has_record("t"));
}

#[test]
fn an_agents_own_output_is_read_through_the_plugin_and_a_follow_up_builds_on_the_first_run() {
    let mut env = plugin_env();
    env.install_fake("claude");
    let script = env.script(
        "agent",
        "say Working\nwrite fix-$GIT_AGENT_RUN.txt fixed\nsay Done",
    );
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.git(&[
        "config",
        "--add",
        "agent.runner.env",
        "GIT_AGENT_TEST_SCRIPT",
    ]);
    env.agent(&[
        "new", "--runner", "testplug", "--agent", "claude", "--name", "c", "fix it",
    ])
    .ok();
    let r = env.wait_state("c", "done");
    // Claude's JSON came as `output` lines and was parsed as if it ran here.
    let session_id = r["agent_session_id"].as_str().unwrap().to_owned();
    assert!(session_id.starts_with("fake-session-"), "{r}");
    assert_eq!(r["runs"][0]["outcome"]["usage"]["cost_usd"], 0.01);

    // Run 2 starts from a bundle holding run 1's work, and resumes the conversation.
    env.agent(&["send", "c", "more"]).ok();
    env.wait_until("run 2 to end", || {
        env.record("c")["runs"][1]["state"] == "done"
    });
    assert_eq!(env.git(&["show", "agent/c:fix-1.txt"]), "fixed\n");
    assert_eq!(env.git(&["show", "agent/c:fix-2.txt"]), "fixed\n");
    let calls: Vec<_> = env
        .calls()
        .into_iter()
        .filter(|c| c["env"]["GIT_AGENT_NAME"] == "c")
        .collect();
    assert_eq!(calls.len(), 2);
    assert!(
        calls[1]["argv"].to_string().contains(&session_id),
        "{}",
        calls[1]
    );
    assert_ne!(
        calls[0]["cwd"], calls[1]["cwd"],
        "each run in a fresh clone"
    );
}
