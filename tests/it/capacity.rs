//! Capacity (issue 14): a cap on running agents with a queue that drains by itself, caps per
//! profile, jumping the queue, pausing, budgets that stop a run, and refusals of limits that
//! could not hold.

use serde_json::Value;

use crate::support::TestEnv;

/// `(session, started, ended)` of every session's first run, in nanoseconds.
fn run_spans(env: &TestEnv) -> Vec<(String, i128, i128)> {
    let list = env.agent(&["list", "--json"]).ok().json();
    let ts = |v: &Value| {
        v.as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_nanosecond())
    };
    let mut spans: Vec<(String, i128, i128)> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| {
            let run = &s["runs"][0];
            Some((
                s["name"].as_str()?.to_owned(),
                ts(&run["started_at"])?,
                ts(&run["ended_at"])?,
            ))
        })
        .collect();
    spans.sort_by_key(|(_, start, _)| *start);
    spans
}

/// The most runs that were going on at one moment.
fn most_at_once(spans: &[(String, i128, i128)]) -> usize {
    spans
        .iter()
        .map(|(_, start, _)| {
            spans
                .iter()
                .filter(|(_, s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn eight_sessions_run_two_at_a_time_first_come_first_served() {
    let env = TestEnv::new();
    // The first two hold their slots until all eight exist, however slowly they are made.
    let gate = env.path("all-made");
    let out = env.spawn(
        &["-n", "8", "--max-parallel", "2", "--name", "q", "t"],
        &format!(
            "wait-for {}\nsleep 0.2\nwrite v$GIT_AGENT_VARIANT.txt done",
            gate.display()
        ),
    );
    env.touch("all-made");
    assert!(
        out.stdout.contains("Queued q-8 (")
            && out.stdout.contains("'git agent start q-8' starts it now"),
        "{out}"
    );
    assert_eq!(env.record("q-8")["limits"]["max_parallel"], 2);
    env.agent(&["wait", "--all", "--timeout", "120s"]).ok();
    let spans = run_spans(&env);
    assert_eq!(spans.len(), 8, "{spans:?}");
    assert!(most_at_once(&spans) <= 2, "more than 2 at once: {spans:?}");
    // First come, first served, from the event log: those that waited got their slots in the
    // order they queued, and no session took a slot while one created before it waited.
    let events = std::fs::read_to_string(env.state_dir().join("events.jsonl")).unwrap();
    let index = |name: &str| name.trim_start_matches("q-").parse::<u32>().unwrap();
    let mut waiting: Vec<u32> = Vec::new();
    let mut served = Vec::new();
    for e in events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
    {
        let n = index(e["session"].as_str().unwrap());
        match (e["event"].as_str().unwrap(), e["state"].as_str()) {
            ("state", Some("queued")) => waiting.push(n),
            ("dequeued", _) => {
                waiting.retain(|w| *w != n);
                served.push(n);
            }
            ("state", Some("running")) => assert!(
                waiting.iter().all(|w| *w > n),
                "q-{n} started while {waiting:?} waited: {events}"
            ),
            _ => {}
        }
    }
    assert!(served.contains(&8), "q-8 waited for its slot: {events}");
    assert!(served.is_sorted(), "served in order: {served:?}");
    for i in 1..=8 {
        let r = env.record(&format!("q-{i}"));
        assert_eq!(r["state"], "done", "q-{i}: {r:#}");
        assert_eq!(r["runs"].as_array().unwrap().len(), 1, "q-{i} ran once");
        assert!(r.get("queued_at").is_none(), "q-{i} left the queue: {r:#}");
    }
}

#[test]
fn a_killed_supervisor_frees_its_slot_for_the_next_command_and_nothing_starts_twice() {
    let env = TestEnv::new();
    let gate = env.path("gate");
    env.spawn(
        &["-n", "7", "--max-parallel", "1", "--name", "k", "t"],
        &format!("wait-for {}\nwrite k.txt done", gate.display()),
    );
    env.wait_state("k-1", "running");
    for i in 2..=7 {
        assert_eq!(env.stored_state(&format!("k-{i}")), "queued");
    }
    env.kill_supervisor("k-1");
    // Nobody gave the slot away; a command that looks at the sessions does: here `wait`,
    // which looks now and then while it waits for queued sessions.
    std::fs::write(&gate, "").unwrap();
    // Exit 1: k-1 is lost.
    env.agent(&["wait", "--all", "--timeout", "60s"]).code(1);
    let list = env.agent(&["list", "--json"]).ok().json();
    assert_eq!(
        list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "k-1")
            .unwrap()["state"],
        "lost"
    );
    let spans = run_spans(&env);
    let later: Vec<&(String, i128, i128)> = spans.iter().filter(|(n, _, _)| n != "k-1").collect();
    for (i, a) in later.iter().enumerate() {
        for b in &later[i + 1..] {
            assert!(a.2 <= b.1, "{} and {} overlapped: {spans:?}", a.0, b.0);
        }
    }
    let events = std::fs::read_to_string(env.state_dir().join("events.jsonl")).unwrap();
    for i in 2..=7 {
        let name = format!("k-{i}");
        let r = env.record(&name);
        assert_eq!(r["state"], "done", "{r:#}");
        assert_eq!(r["runs"].as_array().unwrap().len(), 1, "{name} ran once");
        let dequeued = events
            .lines()
            .filter(|l| l.contains(&format!("\"session\":\"{name}\"")) && l.contains("dequeued"))
            .count();
        assert_eq!(dequeued, 1, "{name} started once: {events}");
    }
}

#[test]
fn each_profile_keeps_to_its_own_cap() {
    let env = TestEnv::new();
    // The first of each profile hold their slots until all four exist, however slowly they
    // are made: so the two profiles' runs overlap.
    let gate = env.path("all-made");
    let script = env.script(
        "slow",
        &format!("wait-for {}\nsleep 0.2\nwrite p.txt done", gate.display()),
    );
    for p in ["a", "b"] {
        env.git(&[
            "config",
            &format!("agent.profile.{p}.command"),
            &format!("fake-agent --script {}", script.display()),
        ]);
        env.git(&["config", &format!("agent.profile.{p}.maxParallel"), "1"]);
    }
    env.agent(&["new", "--agent", "a:2,b:2", "--name", "p", "t"])
        .ok();
    env.touch("all-made");
    env.agent(&["wait", "--all", "--timeout", "60s"]).ok();
    let list = env.agent(&["list", "--json"]).ok().json();
    let profile_of = |name: &str| {
        list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["agent"]["profile"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let spans = run_spans(&env);
    assert_eq!(spans.len(), 4, "{spans:?}");
    for p in ["a", "b"] {
        let mine: Vec<_> = spans
            .iter()
            .filter(|(n, _, _)| profile_of(n) == p)
            .cloned()
            .collect();
        assert_eq!(mine.len(), 2, "{spans:?}");
        assert_eq!(most_at_once(&mine), 1, "profile {p}: {mine:?}");
    }
    assert_eq!(
        most_at_once(&spans),
        2,
        "the caps are per profile, not one for all: {spans:?}"
    );
}

#[test]
fn a_queued_session_can_be_stopped_removed_or_started_ahead_and_pause_holds_the_queue() {
    let env = TestEnv::new();
    let gate = env.path("gate");
    env.git(&["config", "agent.maxParallel", "1"]);
    env.spawn(
        &["-n", "4", "--name", "w", "t"],
        &format!("wait-for {}\nwrite w.txt done", gate.display()),
    );
    env.wait_state("w-1", "running");
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stdout.contains("queued")
            && list.stdout.contains("waiting for a slot (next)")
            && list.stdout.contains("waiting for a slot (2 ahead)"),
        "{list}"
    );

    let show = env.agent(&["show", "w-4"]).ok();
    assert!(show.stdout.contains("queued"), "{show}");

    // stop: it leaves the queue, nothing of it ever ran.
    let stop = env.agent(&["stop", "w-2"]).ok();
    assert!(stop.stdout.contains("w-2"), "{stop}");
    let r = env.record("w-2");
    assert_eq!(r["state"], "stopped", "{r:#}");
    assert!(r["runs"][0].get("started_at").is_none(), "{r:#}");
    assert_eq!(r["worktree_locked"], false, "{r:#}");

    // rm: the same, and the worktree goes (nothing in it).
    env.agent(&["rm", "w-3"]).ok();
    assert!(!env.has_record("w-3"));

    // pause: a freed slot is not given away; start NAME still starts one on purpose.
    env.agent(&["pause"]).ok();
    assert_eq!(env.agent(&["pause"]).ok().stdout, "Already paused.\n");
    let bad = env.agent(&["start", "w-1"]).code(128);
    assert!(
        bad.stderr
            .contains("fatal: 'w-1' is not queued (it is running)")
            && bad.stderr.contains("hint:"),
        "{bad}"
    );
    let started = env.agent(&["start", "w-4"]).ok();
    assert_eq!(started.stdout, "Started w-4, ahead of the queue.\n");
    env.wait_state("w-4", "running");
    std::fs::write(&gate, "").unwrap();
    env.agent(&["wait", "w-1", "w-4", "--timeout", "60s"]).ok();

    // A new session while paused waits, whatever the free slots.
    let out = env.spawn(&["--name", "later", "t"], "write later.txt done");
    assert!(out.stdout.contains("Queued later"), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    env.agent(&["list"]).ok();
    assert_eq!(env.stored_state("later"), "queued");
    let events = env.agent(&["events"]).ok();
    assert!(events.stdout.contains("paused"), "{events}");
    let unpaused = env.agent(&["unpause"]).ok();
    assert_eq!(unpaused.stdout, "Unpaused; started later.\n");
    env.wait_state("later", "done");
    assert_eq!(env.agent(&["unpause"]).ok().stdout, "Not paused.\n");
}

#[test]
fn limits_that_cannot_hold_are_refused_before_anything_is_made() {
    let env = TestEnv::new();
    let fake = env.fake("x", "exit 0");
    let new = |extra: &[&str]| {
        let mut args = vec!["new", "--name", "x", "t"];
        args.extend_from_slice(extra);
        args.extend(fake.iter().map(String::as_str));
        env.agent(&args)
    };
    for (flag, value, why) in [
        ("--max-parallel", "0", "at least 1"),
        ("--max-parallel", "two", "a whole number"),
        ("--max-parallel", "-1", "a whole number"),
        ("--budget", "0", "more than zero"),
        ("--budget", "-2", "more than zero"),
        ("--budget", "lots", "US dollars"),
    ] {
        let out = new(&[&format!("{flag}={value}")]).code(2);
        assert!(
            out.stderr
                .contains(&format!("invalid value '{value}' for '{flag}"))
                && out.stderr.contains(why),
            "{flag} {value}: {out}"
        );
    }
    // A budget for an agent that reports neither cost nor tokens could not be held:
    // refused, not ignored.
    let out = new(&["--budget", "2"]).code(128);
    assert!(
        out.stderr.contains(
            "fatal: --budget $2.00 cannot be held for 'command': it reports neither cost nor tokens"
        ) && out
            .stderr
            .contains("hint: budgets work with claude, codex, gemini, opencode and aider"),
        "{out}"
    );
    env.git(&["config", "agent.budget", "1"]);
    let out = new(&[]).code(128);
    assert!(
        out.stderr
            .contains("fatal: agent.budget $1.00 cannot be held"),
        "{out}"
    );
    env.git(&["config", "--unset", "agent.budget"]);
    for (key, value) in [("agent.maxParallel", "none"), ("agent.budget.total", "-1")] {
        env.git(&["config", key, value]);
        let out = new(&[]).code(128);
        assert!(
            out.stderr
                .contains(&format!("fatal: bad config value '{value}' for '{key}'")),
            "{out}"
        );
        env.git(&["config", "--unset", key]);
    }
    assert!(!env.has_record("x"), "nothing was made");
}

#[test]
fn a_run_that_spends_its_budget_is_stopped_over_budget_with_its_work_committed() {
    let env = TestEnv::new();
    env.install_fake("opencode");
    let script = env.script(
        "spend",
        "write part.txt half done\nstep 0.03\nsleep 0.2\nstep 0.03\nsleep 30\nwrite never.txt x",
    );
    let mut env = env;
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&[
        "new", "--agent", "opencode", "--name", "b", "--budget", "0.05", "t",
    ])
    .ok();
    let r = env.wait_state("b", "over-budget");
    assert_eq!(r["reason"], "over budget: spent $0.060 of $0.050", "{r:#}");
    let log = env.git(&["log", "--format=%s%n%b", "agent/b"]);
    assert!(log.contains("over budget"), "{log}");
    let files = env.git(&["ls-tree", "--name-only", "agent/b"]);
    assert!(
        files.contains("part.txt") && !files.contains("never.txt"),
        "{files}"
    );
    let list = env.agent(&["list"]).ok();
    assert!(list.stdout.contains("over-budget"), "{list}");
    let show = env.agent(&["show", "b"]).ok();
    assert!(show.stdout.contains("budget $0.050"), "{show}");
}

#[test]
fn a_total_budget_holds_new_starts_while_the_running_sessions_have_spent_it() {
    let mut env = TestEnv::new();
    env.install_fake("opencode");
    let gate = env.path("gate");
    let script = env.script(
        "spend",
        &format!("step 0.03\nwait-for {}\nwrite a.txt done", gate.display()),
    );
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.git(&["config", "agent.budget.total", "0.02"]);
    env.agent(&["new", "--agent", "opencode", "--name", "a", "t"])
        .ok();
    env.wait_until("a's spend to be recorded", || {
        env.record("a")["runs"][0]["outcome"]["usage"]["cost_usd"].as_f64() == Some(0.03)
    });
    let out = env
        .agent(&["new", "--agent", "opencode", "--name", "b", "t"])
        .ok();
    assert!(out.stdout.contains("Queued b"), "{out}");
    env.wait_until("b's queued event to say why", || {
        std::fs::read_to_string(env.state_dir().join("events.jsonl"))
            .unwrap()
            .contains("running sessions have spent $0.03 of agent.budget.total $0.02")
    });
    std::fs::write(&gate, "").unwrap();
    env.wait_state("a", "done");
    // a's slot and its spend are gone from the running ones: b starts and finishes.
    env.wait_state("b", "done");
}

#[test]
fn max_run_time_stops_a_run_that_goes_on_too_long() {
    let env = TestEnv::new();
    env.git(&["config", "agent.maxRunTime", "1s"]);
    env.spawn(&["--name", "slow", "t"], "write half.txt x\nsleep 60");
    let r = env.wait_state("slow", "stopped");
    assert_eq!(r["reason"], "timed out after 1s", "{r:#}");
    assert!(
        env.git(&["ls-tree", "--name-only", "agent/slow"])
            .contains("half.txt")
    );
    env.git(&["config", "agent.maxRunTime", "soon"]);
    let fake = env.fake("x", "exit 0");
    let mut args = vec!["new", "--name", "x", "t"];
    args.extend(fake.iter().map(String::as_str));
    let out = env.agent(&args).code(128);
    assert!(out.stderr.contains("agent.maxRunTime"), "{out}");
}

/// A config profile `oc` of the fake installed as `opencode` whose start takes a lock the way
/// OpenCode migrates its database on a first start: without waiting, failing if it is held,
/// before it reports its session (`announce`); then it writes `s.txt`.
fn migrating_profile(env: &TestEnv) {
    env.install_fake("opencode");
    let lock = env.path("db.lock");
    let script = env.script(
        "migrate",
        &format!(
            "lock-or-fail {l}\nsleep 1.5\nunlock {l}\nannounce\nwrite s.txt done",
            l = lock.display()
        ),
    );
    for (key, value) in [
        ("command", format!("opencode --script {}", script.display())),
        ("format", "opencode".into()),
        ("startSerially", "true".into()),
    ] {
        env.git(&["config", &format!("agent.profile.oc.{key}"), &value]);
    }
}

#[track_caller]
fn assert_done_with_file(env: &TestEnv, names: &[&str]) {
    for name in names {
        let r = env.record(name);
        assert_eq!(r["state"], "done", "{name}: {r:#}");
        assert!(r["agent_session_id"].is_string(), "{name}: {r:#}");
        assert!(
            env.git(&["ls-tree", "--name-only", &format!("agent/{name}")])
                .contains("s.txt"),
            "{name}"
        );
    }
}

/// Started serially, the second session of the profile starts only once the first has
/// reported its session (or ended, or after a few seconds): both `done`. Started together
/// (`startSerially false`), one finds the lock held and fails: the check can fail.
#[test]
fn a_profile_that_starts_serially_starts_one_session_at_a_time() {
    let env = TestEnv::new();
    migrating_profile(&env);
    env.agent(&["new", "-n", "2", "--agent", "oc", "--name", "s", "t"])
        .ok();
    env.agent(&["wait", "--all", "--timeout", "60s"]).ok();
    assert_done_with_file(&env, &["s-1", "s-2"]);

    env.git(&["config", "agent.profile.oc.startSerially", "false"]);
    env.agent(&["new", "-n", "2", "--agent", "oc", "--name", "u", "t"])
        .ok();
    env.agent(&["wait", "--all", "--timeout", "60s"]);
    let states: Vec<String> = ["u-1", "u-2"].iter().map(|n| env.stored_state(n)).collect();
    assert!(
        states.contains(&"done".to_owned()) && states.contains(&"failed".to_owned()),
        "{states:?}"
    );
    let failed = if states[0] == "failed" { "u-1" } else { "u-2" };
    let logs = env.agent(&["logs", failed, "--raw"]).stdout;
    assert!(logs.contains("is held"), "{logs}");
}

/// Sessions of such a profile that waited in the queue longer than the few seconds a start
/// may take are still started one at a time when slots free up for both at once.
#[test]
fn serial_starts_hold_after_a_long_wait_in_the_queue() {
    let env = TestEnv::new();
    migrating_profile(&env);
    env.git(&["config", "agent.maxParallel", "1"]);
    let gate = env.path("gate");
    env.spawn(
        &["--name", "blocker", "t"],
        &format!("wait-for {}\nwrite b.txt done", gate.display()),
    );
    env.wait_state("blocker", "running");
    env.agent(&["new", "-n", "2", "--agent", "oc", "--name", "s", "t"])
        .ok();
    // Longer than a serial start counts as starting (5 s) without reporting its session.
    std::thread::sleep(std::time::Duration::from_millis(5500));
    env.git(&["config", "agent.maxParallel", "3"]);
    std::fs::write(&gate, "").unwrap();
    env.agent(&["wait", "--all", "--timeout", "60s"]).ok();
    assert_done_with_file(&env, &["s-1", "s-2"]);
}

#[test]
fn the_project_file_can_cap_its_sessions_and_config_knows_every_new_setting() {
    let env = TestEnv::new();
    env.write(".git-agent.toml", "max_parallel = 1\n");
    env.git(&["add", ".git-agent.toml"]);
    env.git(&["commit", "-q", "-m", "cap"]);
    let gate = env.path("gate");
    let script = format!("wait-for {}\nwrite f.txt x", gate.display());
    env.spawn(&["--name", "a", "t"], &script);
    env.wait_state("a", "running");
    let out = env.spawn(&["--name", "b", "t"], &script);
    assert!(out.stdout.contains("Queued b"), "{out}");
    assert_eq!(env.record("b")["limits"]["max_parallel"], 1);
    std::fs::write(&gate, "").unwrap();
    env.agent(&["wait", "a", "b", "--timeout", "60s"]).ok();

    for (key, value) in [
        ("agent.maxParallel", "3"),
        ("agent.budget", "2"),
        ("agent.budget.total", "10"),
        ("agent.retry.max", "2"),
        ("agent.retry.base", "10s"),
        ("agent.maxRunTime", "1h"),
        ("agent.price.gpt-5.input", "1.25"),
        ("agent.profile.claude.maxParallel", "2"),
        ("agent.profile.opencode.startSerially", "false"),
    ] {
        env.git(&["config", key, value]);
    }
    let config = env.agent(&["config"]).ok();
    assert!(!config.stderr.contains("not a setting"), "{config}");
    assert!(config.stdout.contains("agent.retry.base"), "{config}");

    env.write(".git-agent.toml", "max_parallel = 0\n");
    env.git(&["commit", "-qam", "no"]);
    let fake = env.fake("c", "exit 0");
    let mut args = vec!["new", "--name", "c", "t"];
    args.extend(fake.iter().map(String::as_str));
    let out = env.agent(&args).code(128);
    assert!(
        out.stderr
            .contains("fatal: max_parallel = 0 in .git-agent.toml: it must be at least 1"),
        "{out}"
    );
}

#[test]
fn what_an_agent_runs_never_starts_another_sessions_agent() {
    let env = TestEnv::new();
    let gate = env.path("gate");
    env.spawn(
        &["-n", "2", "--max-parallel", "1", "--name", "g", "t"],
        &format!("wait-for {}\nwrite g.txt x", gate.display()),
    );
    env.wait_state("g-1", "running");
    assert_eq!(env.stored_state("g-2"), "queued");
    // g-2's supervisor queued it and exits, moving the queue as it goes: only then free the
    // slot, so that nobody but the looks below can give it away.
    env.wait_supervisor_gone("g-2");
    env.kill_supervisor("g-1");
    // `git agent list` as an agent would run it (its run token in the environment).
    let mut cmd = env.command("git", &env.repo);
    cmd.args(["agent", "list"])
        .env("GIT_AGENT_RUN_TOKEN", "0123456789abcdef");
    env.run(cmd).ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(env.stored_state("g-2"), "queued", "not started by an agent");
    // The user's own look gives the slot away.
    env.agent(&["list"]).ok();
    std::fs::write(&gate, "").unwrap();
    env.wait_state("g-2", "done");
}
