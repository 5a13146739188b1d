//! Attacks on capacity (issue 14): caps, the queue, rate-limit retries and budgets pushed
//! where they could break: races between commands, stray supervisors, commands on queued,
//! rate-limited and over-budget sessions, and surprises on disk.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::TestEnv;

/// `(started, ended)` of every run of every session, in nanoseconds, with the session's name.
fn all_runs(env: &TestEnv) -> Vec<(String, i128, i128)> {
    let list = env.agent(&["list", "--json"]).ok().json();
    let ts = |v: &Value| {
        v.as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_nanosecond())
    };
    let mut spans = Vec::new();
    for s in list["sessions"].as_array().unwrap() {
        for run in s["runs"].as_array().unwrap() {
            if let (Some(start), Some(end)) = (ts(&run["started_at"]), ts(&run["ended_at"])) {
                spans.push((s["name"].as_str().unwrap().to_owned(), start, end));
            }
        }
    }
    spans.sort_by_key(|(_, start, _)| *start);
    spans
}

#[track_caller]
fn assert_one_at_a_time(spans: &[(String, i128, i128)]) {
    for pair in spans.windows(2) {
        assert!(
            pair[0].2 <= pair[1].1,
            "{} and {} ran at once: {spans:?}",
            pair[0].0,
            pair[1].0
        );
    }
}

/// How many times the fake agent was started for `name`.
fn starts(env: &TestEnv, name: &str) -> usize {
    env.calls()
        .iter()
        .filter(|c| c["env"]["GIT_AGENT_NAME"] == name)
        .count()
}

/// A repository capped at one agent, with `blocker` holding the slot until `gate` exists.
fn one_slot_taken(env: &TestEnv) -> std::path::PathBuf {
    let gate = env.path("gate");
    env.git(&["config", "agent.maxParallel", "1"]);
    env.spawn(
        &["--name", "blocker", "t"],
        &format!("wait-for {}\nwrite b.txt done", gate.display()),
    );
    env.wait_state("blocker", "running");
    gate
}

/// A follow-up to a finished session is a new start: with every slot taken it waits.
#[test]
fn a_follow_up_to_a_finished_session_waits_for_a_slot() {
    let env = TestEnv::new();
    env.spawn(&["--name", "a", "t"], "write a.txt x");
    env.wait_state("a", "done");
    let gate = one_slot_taken(&env);
    let out = env.agent(&["send", "a", "more"]).ok();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.stored_state("a"), "queued", "{out}");
    assert_eq!(starts(&env, "a"), 1, "a's follow-up ran over the cap");
    std::fs::write(&gate, "").unwrap();
    let r = env.wait_state("a", "done");
    assert_eq!(r["runs"].as_array().unwrap().len(), 2, "{r:#}");
    assert_one_at_a_time(&all_runs(&env)[1..]);
}

/// Two shells run `new --max-parallel 1` at the same moment: one runs, the other waits.
#[test]
fn two_news_at_once_with_a_cap_of_one_run_one_after_the_other() {
    let env = TestEnv::new();
    let gate = env.path("gate");
    let script = format!("wait-for {}\nwrite c.txt x", gate.display());
    std::thread::scope(|scope| {
        for name in ["c1", "c2"] {
            let (env, script) = (&env, &script);
            scope.spawn(move || env.spawn(&["--max-parallel", "1", "--name", name, "t"], script));
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut states = [env.stored_state("c1"), env.stored_state("c2")];
    states.sort();
    assert_eq!(states, ["queued", "running"]);
    std::fs::write(&gate, "").unwrap();
    env.agent(&["wait", "c1", "c2", "--timeout", "60s"]).ok();
    assert_one_at_a_time(&all_runs(&env));
}

/// `start NAME` twice at the same moment starts it once; the other says why it did not.
#[test]
fn start_twice_at_once_starts_once() {
    let env = TestEnv::new();
    let gate = one_slot_taken(&env);
    env.spawn(
        &["--name", "q", "t"],
        &format!("wait-for {}\nwrite q.txt x", gate.display()),
    );
    assert_eq!(env.stored_state("q"), "queued");
    let outs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| env.agent(&["start", "q"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = outs.iter().filter(|o| o.code == 0).count();
    assert_eq!(ok, 1, "{outs:?}");
    let refused = outs.iter().find(|o| o.code != 0).unwrap();
    assert!(
        refused.stderr.contains("'q' is not queued (it is running)"),
        "{refused}"
    );
    std::fs::write(&gate, "").unwrap();
    env.agent(&["wait", "q", "blocker", "--timeout", "60s"])
        .ok();
    assert_eq!(starts(&env, "q"), 1);
}

/// A supervisor that arrives late for a session another supervisor was given (the command
/// that started it was killed before it recorded the grant, and another command gave the
/// slot away again) leaves the session alone: the agent never runs twice.
#[test]
fn a_stray_supervisor_never_starts_an_agent_twice() {
    let env = TestEnv::new();
    let gate = env.path("gate");
    env.spawn(
        &["--name", "d", "t"],
        &format!("wait-for {}\nwrite d.txt x", gate.display()),
    );
    env.wait_state("d", "running");
    env.call_of("d");
    let owner = env.record("d")["processes"]["supervisor"]["pid"].clone();
    let common = env.repo.join(".git");
    let mut stray = env.command(env.bin.join("git-agent"), &env.repo);
    stray.args(["__supervise", common.to_str().unwrap(), "d"]);
    let mut stray = stray.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = stray.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = stray.kill();
            let _ = stray.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.is_some(), "the stray supervisor ran on");
    assert_eq!(starts(&env, "d"), 1, "the agent was started twice");
    assert_eq!(env.record("d")["processes"]["supervisor"]["pid"], owner);
    std::fs::write(&gate, "").unwrap();
    let r = env.wait_state("d", "done");
    assert_eq!(r["runs"].as_array().unwrap().len(), 1, "{r:#}");
}

/// `rm` of a queued session whose worktree holds files someone put there by hand refuses
/// (nothing is lost), and a refused `rm` leaves the session where it was in the queue.
#[test]
fn rm_of_a_queued_session_with_files_put_there_by_hand_refuses_and_changes_nothing() {
    let env = TestEnv::new();
    let gate = one_slot_taken(&env);
    env.spawn(&["--name", "q", "t"], "write q.txt x");
    assert_eq!(env.stored_state("q"), "queued");
    let worktree = std::path::PathBuf::from(env.record("q")["worktree"].as_str().unwrap());
    std::fs::write(worktree.join("notes.md"), "mine\n").unwrap();
    let out = env.agent(&["rm", "q"]).code(1);
    assert!(
        out.stderr.contains("holds work that would be lost") && out.stderr.contains("notes.md"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(worktree.join("notes.md")).unwrap(),
        "mine\n"
    );
    assert_eq!(env.stored_state("q"), "queued", "a refused rm dequeued it");
    std::fs::write(&gate, "").unwrap();
    env.wait_state("q", "done");
}

/// Records stay readable while eight sessions queue, start and end.
#[test]
fn list_json_reads_every_moment_of_a_busy_queue() {
    let env = TestEnv::new();
    env.spawn(
        &["-n", "8", "--max-parallel", "2", "--name", "l", "t"],
        "sleep 0.2\nwrite l.txt x",
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = env.agent(&["list", "--json"]).ok();
        assert!(!out.stderr.contains("warning"), "{out}");
        let list = out.json();
        let sessions = list["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 8, "{list:#}");
        if sessions.iter().all(|s| s["state"] == "done") {
            break;
        }
        assert!(Instant::now() < deadline, "{list:#}");
    }
}

/// `wait` on a queued session returns once it is stopped.
#[test]
fn wait_on_a_queued_session_ends_when_it_is_stopped() {
    let env = TestEnv::new();
    let gate = one_slot_taken(&env);
    env.spawn(&["--name", "q", "t"], "write q.txt x");
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| env.agent(&["wait", "q", "--timeout", "30s"]));
        std::thread::sleep(Duration::from_millis(500));
        env.agent(&["stop", "q"]).ok();
        let out = waiter.join().unwrap().code(1);
        assert!(out.stdout.contains("q: stopped"), "{out}");
    });
    std::fs::write(&gate, "").unwrap();
    assert_eq!(starts(&env, "q"), 0);
}
