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
    assert!(
        out.stdout
            .contains("(run 2, the agent cannot resume: it got the task and the message afresh); queued: it starts when a slot frees"),
        "{out}"
    );
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

/// A config profile `name` of the fake installed as `cli`, running `script`.
fn profile(env: &TestEnv, name: &str, cli: &str, script: &str) {
    if !env.bin.join(cli).exists() {
        env.install_fake(cli);
    }
    let path = env.script(name, script);
    for (key, value) in [
        ("command", format!("{cli} --script {}", path.display())),
        ("format", cli.to_owned()),
    ] {
        env.git(&["config", &format!("agent.profile.{name}.{key}"), &value]);
    }
}

/// `doctor` does not call queued, rate-limited or over-budget sessions lost or broken, and
/// `clean` keeps the queued and the rate-limited ones.
#[test]
fn doctor_and_clean_leave_queued_rate_limited_and_over_budget_sessions_alone() {
    let env = TestEnv::new();
    profile(&env, "spend", "opencode", "step 0.03\nstep 0.03\nsleep 30");
    profile(&env, "limited", "claude", "rate-limit");
    env.git(&["config", "agent.retry.base", "1h"]);
    env.agent(&[
        "new", "--agent", "spend", "--budget", "0.05", "--name", "b", "t",
    ])
    .ok();
    env.wait_state("b", "over-budget");
    env.git(&["config", "agent.maxParallel", "1"]);
    env.agent(&["new", "--agent", "limited", "--name", "r", "t"])
        .ok();
    env.wait_state("r", "rate-limited");
    env.spawn(&["--name", "q", "t"], "write q.txt x");
    assert_eq!(env.stored_state("q"), "queued");
    let doctor = env.agent(&["doctor"]);
    assert_eq!(doctor.code, 0, "{doctor}");
    let json = env.agent(&["doctor", "--json"]).ok().json();
    assert_eq!(
        json["findings"].as_array().map(Vec::len),
        Some(0),
        "{json:#}"
    );
    env.agent(&["clean", "--yes"]).ok();
    for name in ["q", "r", "b"] {
        assert!(env.has_record(name), "clean removed {name}");
    }
    assert_eq!(env.stored_state("q"), "queued");
    assert_eq!(env.stored_state("r"), "rate-limited");
    env.agent(&["stop", "r"]).ok();
    env.wait_state("q", "done");
}

/// A follow-up to a session that has spent its budget does not start its agent again.
#[test]
fn a_follow_up_to_an_over_budget_session_does_not_spend_more() {
    let env = TestEnv::new();
    profile(&env, "spend", "opencode", "step 0.03\nstep 0.03\nsleep 30");
    env.agent(&[
        "new", "--agent", "spend", "--budget", "0.05", "--name", "b", "t",
    ])
    .ok();
    env.wait_state("b", "over-budget");
    let calls = starts(&env, "b");
    let out = env.agent(&["send", "b", "more"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(starts(&env, "b"), calls, "the agent ran again: {out}");
    assert_eq!(env.stored_state("b"), "over-budget", "{out}");
    assert_eq!(out.code, 128, "{out}");
    assert!(
        out.stderr
            .contains("fatal: 'b' has spent its budget ($0.060 of $0.050)")
            && out.stderr.contains("hint:"),
        "{out}"
    );
    env.agent(&["resume", "b"]).code(128);
    assert_eq!(starts(&env, "b"), calls);
}

/// `--budget` with `-n 3` is each session's own.
#[test]
fn a_budget_with_variants_is_per_session() {
    let env = TestEnv::new();
    profile(&env, "spend", "opencode", "step 0.03\nstep 0.03\nsleep 30");
    env.agent(&[
        "new", "-n", "3", "--agent", "spend", "--budget", "0.05", "--name", "v", "t",
    ])
    .ok();
    for i in 1..=3 {
        let r = env.wait_state(&format!("v-{i}"), "over-budget");
        assert_eq!(r["reason"], "over budget: spent $0.060 of $0.050", "{r:#}");
    }
}

/// `rm` of a session waiting to retry after a rate limit removes it at once, and it never
/// retries afterwards; `pause` then `stop` ends a held retry.
#[test]
fn a_waiting_retry_is_removed_or_stopped_while_paused() {
    let env = TestEnv::new();
    profile(&env, "limited", "claude", "rate-limit");
    env.git(&["config", "agent.retry.base", "1s"]);
    env.agent(&["new", "--agent", "limited", "--name", "r", "t"])
        .ok();
    env.wait_state("r", "rate-limited");
    let started = Instant::now();
    env.agent(&["rm", "r"]).ok();
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(!env.has_record("r"));
    let calls = starts(&env, "r");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(starts(&env, "r"), calls, "retried after rm");

    env.agent(&["pause"]).ok();
    env.agent(&["new", "--agent", "limited", "--name", "p", "t"])
        .ok();
    // Paused, a new session waits in the queue; started on purpose it runs and is limited.
    env.agent(&["start", "p"]).ok();
    env.wait_state("p", "rate-limited");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(env.stored_state("p"), "rate-limited", "held by the pause");
    env.agent(&["stop", "p"]).ok();
    let r = env.record("p");
    assert_eq!(r["state"], "stopped", "{r:#}");
    assert_eq!(r["runs"].as_array().unwrap().len(), 1, "{r:#}");
    assert!(r.get("retry").is_none(), "{r:#}");
}

/// An agent that cannot resume its conversation (aider) is retried with its task afresh.
#[test]
fn an_agent_that_cannot_resume_is_retried_with_its_task() {
    let env = TestEnv::new();
    let marker = env.path("limited-once");
    profile(
        &env,
        "ai",
        "aider",
        &format!("rate-limit-unless {}\nwrite a.txt x", marker.display()),
    );
    env.git(&["config", "agent.retry.base", "1s"]);
    env.agent(&["new", "--agent", "ai", "--name", "a", "the task"])
        .ok();
    let r = env.wait_state("a", "done");
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{r:#}");
    assert_eq!(runs[1]["kind"], "retry", "{r:#}");
    assert_eq!(runs[1]["resumed"], false, "{r:#}");
    assert!(
        runs[1]["prompt"].as_str().unwrap().contains("the task"),
        "{r:#}"
    );
}

/// A queued session whose worktree was deleted by hand before its slot came ends `failed`
/// saying so, and the queue moves on past it.
#[test]
fn a_queued_session_whose_worktree_was_deleted_fails_and_the_queue_moves_on() {
    let env = TestEnv::new();
    let gate = one_slot_taken(&env);
    env.spawn(&["--name", "gone", "t"], "write g.txt x");
    env.spawn(&["--name", "next", "t"], "write n.txt x");
    let worktree = std::path::PathBuf::from(env.record("gone")["worktree"].as_str().unwrap());
    std::fs::remove_dir_all(&worktree).unwrap();
    std::fs::write(&gate, "").unwrap();
    let r = env.wait_state("gone", "failed");
    assert_eq!(r["reason"], "the worktree is gone", "{r:#}");
    env.wait_state("next", "done");
    assert_eq!(starts(&env, "gone"), 0);
    let doctor = env.agent(&["doctor"]);
    assert!(doctor.stdout.contains("gone"), "{doctor}");
}

/// Names with dots queue and start like any other.
#[test]
fn names_with_dots_queue_and_start() {
    let env = TestEnv::new();
    let gate = one_slot_taken(&env);
    env.spawn(&["--name", "v1.2", "t"], "write d.txt x");
    env.spawn(&["--name", "v1.2.fix", "t"], "write d.txt x");
    assert_eq!(env.stored_state("v1.2"), "queued");
    let list = env.agent(&["list"]).ok();
    assert!(list.stdout.contains("waiting for a slot (next)"), "{list}");
    env.agent(&["start", "v1.2.fix"]).ok();
    std::fs::write(&gate, "").unwrap();
    env.agent(&["wait", "v1.2", "v1.2.fix", "--timeout", "60s"])
        .ok();
}

/// A queued session in a repository that was moved (with its worktrees): `doctor` explains
/// it without starting it or calling it lost, `--fix` makes the record follow, and it runs
/// from the new place once released.
#[test]
fn a_queued_session_in_a_moved_repository_is_repaired_then_runs() {
    let env = TestEnv::new();
    env.agent(&["pause"]).ok();
    env.spawn(&["--name", "q", "t"], "write q.txt x");
    assert_eq!(env.stored_state("q"), "queued");
    let moved = env.root().join("moved");
    std::fs::create_dir(&moved).unwrap();
    std::fs::rename(&env.repo, moved.join("repo")).unwrap();
    std::fs::rename(env.agents_dir(), moved.join("repo.agents")).unwrap();
    let repo = moved.join("repo");
    let out = env.agent_in(&repo, &["doctor"]).code(1);
    assert!(out.stdout.contains("q: the repository moved from"), "{out}");
    assert!(!out.stdout.contains("lost"), "{out}");
    env.agent_in(&repo, &["doctor", "--fix"]).ok();
    env.agent_in(&repo, &["doctor"]).ok();
    let list = env.agent_in(&repo, &["list"]).ok();
    assert!(list.stdout.contains("queued"), "{list}");
    env.agent_in(&repo, &["unpause"]).ok();
    env.agent_in(&repo, &["wait", "q", "--timeout", "60s"]).ok();
    let files = env.git_in(&repo, &["ls-tree", "--name-only", "agent/q"]);
    assert!(files.contains("q.txt"), "{files}");
}

/// A bad `agent.maxParallel` set while sessions wait keeps them waiting (nothing starts on a
/// limit that cannot be read), but never silently: `list` and `wait` say why.
#[test]
fn a_bad_cap_set_while_sessions_wait_is_reported_where_they_are_listed() {
    let env = TestEnv::new();
    let gate = one_slot_taken(&env);
    env.spawn(&["--name", "q", "t"], "write q.txt x");
    env.git(&["config", "agent.maxParallel", "lots"]);
    std::fs::write(&gate, "").unwrap();
    env.wait_state("blocker", "done");
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stderr.contains(
            "warning: queued sessions cannot start: bad config value 'lots' for 'agent.maxParallel'"
        ),
        "{list}"
    );
    let wait = env.agent(&["wait", "q", "--timeout", "2s"]).code(1);
    assert!(wait.stderr.contains("agent.maxParallel"), "{wait}");
    assert_eq!(env.stored_state("q"), "queued");
    env.git(&["config", "agent.maxParallel", "1"]);
    env.agent(&["wait", "q", "--timeout", "60s"]).ok();
}

/// `stop` of a session that is still starting when every slot is taken: whether it finds the
/// session before or after its supervisor queued it, it ends `stopped` at once and its agent
/// never runs (a stop requested before the queue took it must not wait for a slot).
#[test]
fn stop_of_a_session_queued_while_it_is_being_stopped_ends_it_at_once() {
    let env = TestEnv::new();
    let gate = one_slot_taken(&env);
    for i in 0..4 {
        let name = format!("s{i}");
        std::thread::scope(|scope| {
            let creating = scope.spawn(|| env.spawn(&["--name", &name, "t"], "write s.txt x"));
            env.wait_until("the record", || env.has_record(&name));
            let started = Instant::now();
            let out = env.agent(&["stop", &name]);
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "stop took {:?}: {out}",
                started.elapsed()
            );
            creating.join().unwrap();
        });
        env.wait_state(&name, "stopped");
    }
    std::fs::write(&gate, "").unwrap();
    env.wait_state("blocker", "done");
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..4 {
        assert_eq!(starts(&env, &format!("s{i}")), 0);
    }
}

/// The command giving a slot away is killed after it started the session's supervisor but
/// before it recorded the grant; the next command gives the slot away again: whichever
/// supervisor gets it, the agent runs once (a race: tried a few times).
#[test]
fn a_command_killed_while_it_gives_a_slot_away_starts_nothing_twice() {
    let env = TestEnv::new();
    env.git(&["config", "agent.maxParallel", "1"]);
    let gate = env.path("gate");
    let mut crashed = 0;
    for round in 0..8 {
        let (blocker, q) = (format!("b{round}"), format!("q{round}"));
        env.spawn(
            &["--name", &blocker, "t"],
            &format!("wait-for {}\nwrite b.txt done", gate.display()),
        );
        env.wait_state(&blocker, "running");
        env.spawn(&["--name", &q, "t"], "write q.txt x");
        env.kill_supervisor(&blocker);
        let mut crashing = env.command("git", &env.repo);
        crashing
            .args(["agent", "list"])
            .env("GIT_AGENT_CRASH_AT", "advance:spawned");
        // Others look at the same moment: one of them gives the slot away again.
        let out = std::thread::scope(|scope| {
            let crash = scope.spawn(|| env.run(crashing));
            std::thread::sleep(Duration::from_millis(10));
            for _ in 0..3 {
                scope.spawn(|| env.agent(&["list"]).ok());
            }
            crash.join().unwrap()
        });
        // Reached unless another look gave the slot away first.
        crashed += usize::from(out.code != 0);
        env.agent(&["wait", &q, "--timeout", "60s"]).ok();
        assert_eq!(starts(&env, &q), 1, "{q} started twice");
    }
    assert!(crashed >= 1, "the crash point was never reached");
    std::fs::write(&gate, "").unwrap();
}

/// The supervisor a killed command started reaches the session only after the slot was given
/// away again and that run ended: it leaves the session alone, never running its agent again.
#[test]
fn a_late_stray_supervisor_never_runs_an_ended_session_again() {
    let env = TestEnv::new();
    let gate = one_slot_taken(&env);
    env.spawn(&["--name", "q", "t"], "write q.txt x");
    env.wait_supervisor_gone("q");
    env.kill_supervisor("blocker");
    // This look gives q the slot and dies before it records that; the supervisor it started
    // is held on its way in.
    let release = env.path("release");
    let mut crashing = env.command("git", &env.repo);
    crashing
        .args(["agent", "list"])
        .env("GIT_AGENT_CRASH_AT", "advance:spawned")
        .env("GIT_AGENT_PAUSE_AT", "supervise:start")
        .env("GIT_AGENT_PAUSE_FILE", &release);
    let out = env.run(crashing);
    assert_ne!(out.code, 0, "the crash point was not reached: {out}");
    let stray = env.read_pid(&env.path("release.paused"));
    // The next look gives the slot away again: q runs, to its end.
    env.agent(&["list"]).ok();
    env.agent(&["wait", "q", "--timeout", "60s"]).ok();
    assert_eq!(starts(&env, "q"), 1);
    env.touch("release");
    env.wait_until("the stray supervisor to leave", || {
        crate::support::process_gone(stray)
    });
    assert_eq!(starts(&env, "q"), 1, "q started twice");
    assert_eq!(env.stored_state("q"), "done");
    std::fs::write(&gate, "").unwrap();
}

/// A supervisor given a slot dies before it records itself: its session is `lost` (never
/// `running` for ever), the slot goes to the next in the queue, and `resume` runs it.
#[test]
fn a_granted_supervisor_that_dies_at_once_frees_its_slot() {
    let mut env = TestEnv::new();
    let gate = one_slot_taken(&env);
    env.spawn(&["--name", "q1", "t"], "write q.txt x");
    // q1's supervisor queued it and exits (moving the queue as it goes): wait for that before
    // the slot frees, so that nobody but the next look gives it away.
    env.wait_supervisor_gone("q1");
    env.kill_supervisor("blocker");
    // Only q1 waits when the slot is given away, so only its supervisor gets the crash point
    // (every process that look starts inherits it).
    env.set_env("GIT_AGENT_CRASH_AT", "supervise:start");
    env.agent(&["list"]).ok();
    env.set_env("GIT_AGENT_CRASH_AT", "");
    env.wait_supervisor_gone("q1");
    let state_of = |name: &str| {
        env.agent(&["list", "--json"]).ok().json()["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["state"].clone())
    };
    env.wait_until("q1 to show lost", || state_of("q1") == Some("lost".into()));
    // Its slot goes to the next one in the queue.
    env.spawn(&["--name", "q2", "t"], "write q.txt x");
    env.agent(&["wait", "q2", "--timeout", "60s"]).ok();
    assert_eq!(starts(&env, "q1"), 0);
    env.agent(&["resume", "q1"]).ok();
    env.agent(&["wait", "q1", "--timeout", "60s"]).ok();
    assert_eq!(starts(&env, "q1"), 1);
    std::fs::write(&gate, "").unwrap();
}

/// `stop --all` takes the queued sessions out of the queue before it frees slots: stopping
/// a running one must not start a queued one it is about to stop.
#[test]
fn stop_all_never_starts_a_queued_session_on_its_way() {
    let env = TestEnv::new();
    env.git(&["config", "agent.maxParallel", "1"]);
    let gate = env.path("gate");
    for round in 0..4 {
        let blocker = format!("a{round}");
        env.spawn(
            &["--name", &blocker, "t"],
            &format!("wait-for {}\nwrite b.txt done", gate.display()),
        );
        env.wait_state(&blocker, "running");
        for q in ["q1", "q2", "q3"] {
            env.spawn(&["--name", &format!("{q}-{round}"), "t"], "write q.txt x");
        }
        env.agent(&["stop", "--all"]).ok();
        std::thread::sleep(Duration::from_millis(300));
        for q in ["q1", "q2", "q3"] {
            let name = format!("{q}-{round}");
            assert_eq!(env.stored_state(&name), "stopped");
            assert_eq!(starts(&env, &name), 0, "{name} was started by stop --all");
        }
    }
}
