//! A running plan's failure paths: a landing that conflicts (one `sync --ask-agent` round,
//! then blocked), a failing `verify` (retries, blocked), approval of a plan's commands,
//! kill -9 of supervisors mid-plan and `plan resume`, a landing the record missed, `plan stop`
//! and `plan rm`, and bad input refused with nothing started.

use serde_json::Value;

use crate::support::TestEnv;
use crate::support::plans::{profile, status, task};

/// The state `plan status` shows for a task (`lost` while a session of it is).
fn live(doc: &Value, id: &str) -> String {
    doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .and_then(|t| t["live"].as_str())
        .unwrap_or_else(|| panic!("no task {id}: {doc}"))
        .to_owned()
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

fn runs_of(env: &TestEnv, name: &str) -> usize {
    env.calls_of(name).len()
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
    let follow_up = env.calls_of("clash-right")[1]["argv"].to_string();
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

    // The user resolves the file there; `plan resume` finishes the sync and lands it.
    std::fs::write(wt.join("README.md"), "left and right\n").unwrap();
    let resumed = env.agent(&["plan", "resume", "clash"]).ok();
    assert!(resumed.stdout.contains("trying again: right"), "{resumed}");
    let waited = wait(&env, "clash").code(0);
    assert!(waited.stdout.contains("plan clash: validated"), "{waited}");
    assert_eq!(
        subjects(&env, "clash"),
        ["Greet from the left", "Greet from the right"]
    );
    assert_eq!(
        env.git(&["show", "plan/clash:README.md"]),
        "left and right\n"
    );
    assert_eq!(task(&status(&env, "clash"), "right")["sync_rounds"], 1);
}

const CHECKS: &str = r#"name = "checks"
base = "main"

[[task]]
id = "solid"
agent = "solid"
prompt = "Do solid work"
touches = ["solid.txt"]
verify = "cat solid.txt >> SHARED/solid.verified"

[[task]]
id = "flaky"
agent = "flaky"
prompt = "Do flaky work"
touches = ["flaky.txt"]
retries = 1
verify = "echo v >> SHARED/flaky.count; test $(wc -l < SHARED/flaky.count) -ge 2"

[[task]]
id = "stubborn"
agent = "stubborn"
prompt = "Do stubborn work"
touches = ["stubborn.txt"]
retries = 1
verify = "echo v >> SHARED/stubborn.count; false"
"#;

fn lines_in(env: &TestEnv, file: &str) -> usize {
    std::fs::read_to_string(env.path(file))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn a_failing_verify_blocks_the_task_after_its_retries_and_a_passing_one_lands() {
    let env = TestEnv::new();
    let shared = env.path("");
    env.write(
        "plan.toml",
        &CHECKS.replace("SHARED/", &shared.to_string_lossy()),
    );
    for id in ["solid", "flaky", "stubborn"] {
        profile(&env, id, &format!("append {id}.txt {id} work\ncommit {id}"));
    }
    // Its commands need approval: without --trust and without a terminal, nothing starts.
    let refused = env.agent(&["plan", "run", "plan.toml"]).code(3);
    assert!(
        refused
            .stderr
            .contains("defines a task solid verify command you have not approved: cat solid.txt"),
        "{refused}"
    );
    env.agent(&["plan", "status", "checks"]).code(128);
    assert!(env.git(&["branch", "--list", "plan/*"]).is_empty());
    assert!(!env.has_record("checks-solid"));
    assert!(env.calls().is_empty());

    let ran = env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    assert!(
        ran.stderr
            .contains("Approved the task stubborn verify command"),
        "{ran}"
    );
    let waited = wait(&env, "checks").code(1);
    assert!(waited.stdout.contains("plan checks: blocked"), "{waited}");
    let doc = status(&env, "checks");

    // A passing verify lands, and it ran on what landed.
    assert_eq!(task(&doc, "solid")["state"], "landed");
    assert_eq!(
        runs_of(&env, "checks-solid"),
        1,
        "{:#?}",
        env.calls_of("checks-solid")
    );
    assert_eq!(lines_in(&env, "solid.verified"), 1);
    assert_eq!(
        std::fs::read_to_string(env.path("solid.verified")).unwrap(),
        env.git(&["show", "plan/checks:solid.txt"])
    );
    // A verify that failed once, then passed after the one retry's run: landed.
    let flaky = task(&doc, "flaky");
    assert_eq!(flaky["state"], "landed", "{flaky}");
    assert_eq!(flaky["attempts"], 2, "{flaky}");
    assert_eq!(runs_of(&env, "checks-flaky"), 2);
    assert_eq!(lines_in(&env, "flaky.count"), 2);
    let retried = env.calls_of("checks-flaky")[1]["argv"].to_string();
    assert!(retried.contains("the verify command"), "{retried}");
    // Failed on both runs: blocked, nothing of it landed, its work kept on its branch.
    let stubborn = task(&doc, "stubborn");
    assert_eq!(stubborn["state"], "blocked", "{stubborn}");
    assert!(
        stubborn["reason"]
            .as_str()
            .unwrap()
            .contains("verify failed"),
        "{stubborn}"
    );
    assert_eq!(runs_of(&env, "checks-stubborn"), 2);
    assert_eq!(lines_in(&env, "stubborn.count"), 2);
    let mut landed = subjects(&env, "checks");
    landed.sort();
    assert_eq!(landed, ["Do flaky work", "Do solid work"]);
    assert_eq!(
        env.git(&["show", "agent/checks-stubborn:stubborn.txt"]),
        "stubborn work\nstubborn work\n"
    );
    assert_eq!(doc["plan"]["reason"], "stubborn is blocked");

    // The approval is remembered: the same commands in another plan need no --trust.
    let again = CHECKS
        .replace("SHARED/", &shared.to_string_lossy())
        .replace("name = \"checks\"", "name = \"again\"");
    let solid_only = again.split("[[task]]\nid = \"flaky\"").next().unwrap();
    env.write("again.toml", solid_only);
    let again = env.agent(&["plan", "run", "again.toml"]).ok();
    assert!(!again.stderr.contains("Approved"), "{again}");
    wait(&env, "again").code(0);
}

const CRASH: &str = r#"name = "crash"
base = "main"

[[task]]
id = "first"
agent = "first"
prompt = "Lay the first stone"
touches = ["first.txt"]

[[task]]
id = "side"
agent = "side"
prompt = "Work on the side"
touches = ["side.txt"]

[[task]]
id = "second"
agent = "second"
depends_on = ["first"]
prompt = "Build on it"
touches = ["second.txt"]
"#;

/// The crash plan: `first` and `side` commit their work, say so (`SHARED/<id>.ready`) and
/// wait for the sentinel `<id>.go`; `second` (after `first`) just works.
fn crash_env() -> TestEnv {
    let env = TestEnv::new();
    env.write("plan.toml", CRASH);
    for id in ["first", "side"] {
        let ready = env.path(&format!("{id}.ready"));
        let go = env.path(&format!("{id}.go"));
        profile(
            &env,
            id,
            &format!(
                "append {id}.txt {id} work\ncommit {id} work\nwrite {} ready\nwait-for {}",
                ready.display(),
                go.display()
            ),
        );
    }
    profile(&env, "second", "write second.txt second\ncommit second");
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    for id in ["first", "side"] {
        env.wait_until(&format!("{id} to commit its work"), || {
            env.path(&format!("{id}.ready")).exists()
        });
    }
    env
}

/// How many times `new` created session `name` (its `created` events).
fn created(env: &TestEnv, name: &str) -> usize {
    std::fs::read_to_string(env.state_dir().join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "created" && e["session"] == name)
        .count()
}

/// After a crash: `plan wait` names what was lost, `plan resume` carries it on, and the plan
/// completes with every task run in one session and every commit of the lost runs landed.
#[track_caller]
fn resume_after_crash(env: &TestEnv, lost: &[&str]) {
    let doc = status(env, "crash");
    for id in lost {
        assert_eq!(live(&doc, id), "lost", "{doc:#}");
    }
    assert_eq!(task(&doc, "second")["state"], "waiting");
    let table = env.agent(&["plan", "status", "crash"]).ok();
    assert!(table.stdout.contains("lost"), "{table}");
    let waited = wait(env, "crash").code(1);
    for id in lost {
        assert!(waited.stdout.contains(&format!("crash-{id}")), "{waited}");
    }
    assert!(waited.stdout.contains("lost: "), "{waited}");
    assert!(
        waited
            .stderr
            .contains("hint: continue it with: git agent plan resume crash"),
        "{waited}"
    );

    for id in lost {
        env.touch(&format!("{id}.go"));
    }
    let resumed = env.agent(&["plan", "resume", "crash"]).ok();
    for id in lost {
        assert!(resumed.stdout.contains(&format!("crash-{id}")), "{resumed}");
    }
    let waited = wait(env, "crash").code(0);
    assert!(waited.stdout.contains("plan crash: validated"), "{waited}");
    let doc = status(env, "crash");
    for id in ["first", "side", "second"] {
        assert_eq!(task(&doc, id)["state"], "landed", "{doc:#}");
        assert_eq!(created(env, &format!("crash-{id}")), 1, "crash-{id}");
    }
    // Each lost task ran twice in its one session: the lost run and the resumed one.
    for id in lost {
        assert_eq!(runs_of(env, &format!("crash-{id}")), 2, "crash-{id}");
        let again = env.calls_of(&format!("crash-{id}"))[1]["argv"].to_string();
        assert!(again.contains("interrupted"), "{again}");
        // The lost run's commit and the resumed run's both landed.
        assert_eq!(
            env.git(&["show", &format!("plan/crash:{id}.txt")]),
            format!("{id} work\n{id} work\n")
        );
    }
    let mut landed = subjects(env, "crash");
    landed.sort();
    assert_eq!(
        landed,
        ["Build on it", "Lay the first stone", "Work on the side"]
    );
}

#[test]
fn a_task_whose_supervisor_was_killed_is_lost_then_resumed_in_its_session() {
    let env = crash_env();
    env.kill_supervisor("crash-first");
    // What was not killed carries on and lands.
    env.touch("side.go");
    env.wait_until("side to land", || {
        task(&status(&env, "crash"), "side")["state"] == "landed"
    });
    resume_after_crash(&env, &["first"]);
}

#[test]
fn after_kill_9_of_every_process_the_plan_resumes_without_running_a_task_twice() {
    let env = crash_env();
    for name in ["crash-first", "crash-side"] {
        let agent = env.record(name)["processes"]["agent"].clone();
        let agent: git_agent::procs::ProcessRef = serde_json::from_value(agent).unwrap();
        env.kill_supervisor(name);
        agent.signal_group(nix::sys::signal::Signal::SIGKILL);
        env.wait_until(&format!("{name}'s agent to die"), || {
            crate::support::process_gone(agent.pid as i32)
        });
    }
    resume_after_crash(&env, &["first", "side"]);
}

const WINDOW: &str = r#"name = "window"
base = "main"

[[task]]
id = "solo"
agent = "solo"
prompt = "Go solo"
touches = ["solo.txt"]

[[task]]
id = "kept"
agent = "kept"
prompt = "Keep it"
touches = ["kept.txt"]

[[task]]
id = "after"
agent = "after"
depends_on = ["solo", "kept"]
prompt = "Come after"
touches = ["after.txt"]
"#;

/// Killed between `merge` landing a task and the record saying so: simulated by landing the
/// tasks by hand while the plan's drive lock is held (so their ends advance nothing). The next
/// advance finds them landed from the commit's `Git-Agent-Session` trailer — one whose session
/// `merge` removed, one whose session still says `done` (`--keep`, and killed before the merge
/// wrote its record) — and lands neither twice.
#[test]
fn a_landing_the_record_missed_is_found_and_not_landed_twice() {
    let env = TestEnv::new();
    env.write("plan.toml", WINDOW);
    let go = env.path("go");
    for id in ["solo", "kept"] {
        profile(
            &env,
            id,
            &format!(
                "wait-for {}\nwrite {id}.txt {id}\ncommit {id}",
                go.display()
            ),
        );
    }
    profile(&env, "after", "write after.txt after\ncommit after");
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    let lock = std::fs::File::open(env.state_dir().join("plans/window/drive.lock")).unwrap();
    lock.lock().unwrap();
    env.touch("go");
    for id in ["solo", "kept"] {
        let name = format!("window-{id}");
        env.wait_state(&name, "done");
        env.wait_supervisor_gone(&name);
    }
    env.agent(&["merge", "window-solo", "--into", "plan/window", "--squash"])
        .ok();
    env.agent(&[
        "merge",
        "window-kept",
        "--into",
        "plan/window",
        "--squash",
        "--keep",
    ])
    .ok();
    assert!(!env.has_record("window-solo"));
    // Killed before the merge wrote its record: the session still says it is done.
    let path = env.state_dir().join("sessions/window-kept.json");
    let mut record = env.record("window-kept");
    assert!(record["merged"].is_object(), "{record}");
    record.as_object_mut().unwrap().remove("merged");
    std::fs::write(&path, serde_json::to_string_pretty(&record).unwrap()).unwrap();
    let by_hand = env.git(&["rev-parse", "plan/window~1", "plan/window"]);
    let by_hand: Vec<&str> = by_hand.lines().collect();
    let doc = status(&env, "window");
    assert_eq!(task(&doc, "solo")["state"], "running", "{doc:#}");
    drop(lock);

    wait(&env, "window").code(0);
    let doc = status(&env, "window");
    assert_eq!(task(&doc, "solo")["landed"], by_hand[0], "{doc:#}");
    assert_eq!(task(&doc, "kept")["landed"], by_hand[1], "{doc:#}");
    assert_eq!(task(&doc, "after")["state"], "landed", "{doc:#}");
    assert_eq!(
        subjects(&env, "window"),
        ["Go solo", "Keep it", "Come after"]
    );
    // The plan did not even try to merge them again.
    let log = std::fs::read_to_string(env.state_dir().join("plans/window/log")).unwrap();
    assert!(log.contains("$ git agent merge window-after"), "{log}");
    assert!(!log.contains("$ git agent merge window-solo"), "{log}");
    assert!(!log.contains("$ git agent merge window-kept"), "{log}");
    for id in ["solo", "kept", "after"] {
        assert_eq!(runs_of(&env, &format!("window-{id}")), 1, "{id}");
    }
}

const HALT: &str = r#"name = "halt"
base = "main"

[[task]]
id = "a"
agent = "a"
prompt = "Start it"
touches = ["a.txt"]

[[task]]
id = "b"
agent = "b"
depends_on = ["a"]
prompt = "Finish it"
touches = ["b.txt"]
"#;

/// The halt plan under `name`: `a` commits a line, leaves another uncommitted, says so
/// (`SHARED/<name>.ready`) and waits for `SHARED/<name>.go`.
fn halt_env(env: &TestEnv, name: &str) {
    env.write(
        &format!("{name}.toml"),
        &HALT.replace("name = \"halt\"", &format!("name = \"{name}\"")),
    );
    profile(
        env,
        "a",
        &format!(
            "append a.txt one\ncommit one\nappend a.txt two\nwrite {} ready\nwait-for {}",
            env.path(&format!("{name}.ready")).display(),
            env.path(&format!("{name}.go")).display()
        ),
    );
    profile(env, "b", "write b.txt b\ncommit b");
    let toml = format!("{name}.toml");
    env.agent(&["plan", "run", &toml, "--trust"]).ok();
    env.wait_until("a to be at work", || {
        env.path(&format!("{name}.ready")).exists()
    });
}

fn archived(env: &TestEnv, name: &str) -> bool {
    std::fs::read_dir(env.state_dir().join("archive"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("plan-{name}-"))
                && e.path().join("plan.json").exists()
        })
}

#[test]
fn plan_stop_keeps_the_work_and_starts_nothing_and_plan_rm_removes_only_what_landed() {
    let env = TestEnv::new();
    halt_env(&env, "halt");

    // Not while it runs.
    let refused = env.agent(&["plan", "rm", "halt"]).code(128);
    assert!(
        refused.stderr.contains("fatal: plan 'halt' is running"),
        "{refused}"
    );
    assert!(
        refused
            .stderr
            .contains("hint: stop it first: git agent plan stop halt"),
        "{refused}"
    );
    assert!(env.has_record("halt-a"));

    let stopped = env.agent(&["plan", "stop", "halt"]).ok();
    assert!(
        stopped.stdout.contains("Stopped plan halt and halt-a"),
        "{stopped}"
    );
    env.wait_state("halt-a", "stopped");
    // Its work is committed, as `git agent stop` commits it.
    assert_eq!(env.git(&["show", "agent/halt-a:a.txt"]), "one\ntwo\n");
    let waited = wait(&env, "halt").code(1);
    assert!(waited.stdout.contains("plan halt: stopped"), "{waited}");
    let doc = status(&env, "halt");
    assert_eq!(doc["plan"]["state"], "stopped");
    assert_eq!(task(&doc, "b")["state"], "waiting");
    assert!(!env.has_record("halt-b"));
    assert_eq!(runs_of(&env, "halt-b"), 0);

    // Resumed: a carries on in its session, then b runs; nothing lost.
    env.touch("halt.go");
    let resumed = env.agent(&["plan", "resume", "halt"]).ok();
    assert!(resumed.stdout.contains("carrying on: halt-a"), "{resumed}");
    wait(&env, "halt").code(0);
    assert_eq!(runs_of(&env, "halt-a"), 2);
    assert_eq!(created(&env, "halt-a"), 1);
    let a = env.git(&["show", "plan/halt:a.txt"]);
    assert!(a.starts_with("one\ntwo\n"), "{a}");
    assert_eq!(subjects(&env, "halt"), ["Start it", "Finish it"]);

    // Landed on main: plan rm removes its sessions, the integration branch and the record.
    env.agent(&["plan", "land", "halt"]).ok();
    let removed = env.agent(&["plan", "rm", "halt"]).ok();
    assert!(
        removed.stdout.contains("Deleted plan/halt (it landed)"),
        "{removed}"
    );
    assert!(removed.stdout.contains("Removed plan halt"), "{removed}");
    for name in ["halt-a", "halt-b", "halt-integration"] {
        assert!(!env.has_record(name), "{name}");
    }
    assert!(env.git(&["branch", "--list", "plan/halt"]).is_empty());
    env.agent(&["plan", "status", "halt"]).code(128);
    assert!(archived(&env, "halt"));
}

#[test]
fn plan_rm_keeps_work_that_has_not_landed_unless_forced() {
    let env = TestEnv::new();
    halt_env(&env, "keep");
    env.agent(&["plan", "stop", "keep"]).ok();
    env.wait_state("keep-a", "stopped");

    let kept = env.agent(&["plan", "rm", "keep"]).code(1);
    assert!(kept.stderr.contains("error: kept keep-a"), "{kept}");
    assert!(
        kept.stderr.contains("git agent plan rm --force keep"),
        "{kept}"
    );
    assert!(env.has_record("keep-a"));
    assert_eq!(status(&env, "keep")["plan"]["state"], "stopped");
    assert!(!archived(&env, "keep"));

    let forced = env.agent(&["plan", "rm", "--force", "keep"]).ok();
    assert!(forced.stdout.contains("Removed keep-a"), "{forced}");
    assert!(
        forced.stdout.contains("Kept plan/keep: it has not landed"),
        "{forced}"
    );
    assert!(!env.has_record("keep-a"));
    // Branches are kept: the integration branch (not landed) and the task's own.
    assert!(!env.git(&["branch", "--list", "plan/keep"]).is_empty());
    assert_eq!(env.git(&["show", "agent/keep-a:a.txt"]), "one\ntwo\n");
    env.agent(&["plan", "status", "keep"]).code(128);
    assert!(archived(&env, "keep"));
}

const SMALL: &str = r#"name = "small"
base = "main"

[[task]]
id = "one"
agent = "one"
prompt = "Do one"

[[task]]
id = "two"
agent = "one"
depends_on = ["one"]
prompt = "Do two"
"#;

/// `plan run` refused: exit 128, and nothing of the plan exists.
#[track_caller]
fn refused_run(env: &TestEnv, file: &str, name: &str) -> String {
    let out = env.agent(&["plan", "run", file, "--trust"]).code(128);
    assert!(out.stdout.is_empty(), "{out}");
    assert!(!env.state_dir().join(format!("plans/{name}.json")).exists());
    assert!(env.calls().is_empty(), "an agent ran");
    out.stderr
}

/// No session records at all.
fn no_sessions(env: &TestEnv) -> bool {
    std::fs::read_dir(env.state_dir().join("sessions"))
        .map(|d| d.count() == 0)
        .unwrap_or(true)
}

#[test]
fn plan_run_refuses_a_bad_plan_and_starts_nothing() {
    let env = TestEnv::new();
    profile(&env, "one", "append one.txt one\ncommit one");
    let cases = [
        (
            SMALL.replace(
                "prompt = \"Do one\"",
                "depends_on = [\"two\"]\nprompt = \"Do one\"",
            ),
            "plan.toml:5: task 'one'",
            "a dependency cycle: one → two → one",
        ),
        (
            SMALL.replace("depends_on = [\"one\"]", "depends_on = [\"three\"]"),
            "plan.toml:12: task 'two'",
            "depends on 'three', which is not a task",
        ),
    ];
    for (text, want1, want2) in cases {
        env.write("plan.toml", &text);
        let err = refused_run(&env, "plan.toml", "small");
        assert!(err.contains("fatal:"), "{err}");
        assert!(err.contains(want1) && err.contains(want2), "{err}");
        assert!(
            err.contains("task 'two'") || err.contains("task 'one'"),
            "{err}"
        );
        assert!(env.git(&["branch", "--list", "plan/*"]).is_empty());
        assert!(no_sessions(&env));
    }
}

#[test]
fn plan_run_refuses_a_name_a_branch_or_a_session_that_is_taken() {
    let env = TestEnv::new();
    profile(&env, "one", "append one.txt one\ncommit one");
    // The branch plan/small exists.
    env.git(&["branch", "plan/small"]);
    env.write("plan.toml", SMALL);
    let err = refused_run(&env, "plan.toml", "small");
    assert!(
        err.contains("fatal: the branch plan/small exists already"),
        "{err}"
    );
    assert!(err.contains("hint: give the plan another name"), "{err}");
    assert!(no_sessions(&env));
    assert_eq!(
        env.git(&["rev-parse", "plan/small"]),
        env.git(&["rev-parse", "main"])
    );
    env.git(&["branch", "-D", "plan/small"]);

    // A session the plan would name exists.
    env.spawn(&["--name", "small-two"], "print hello");
    env.wait_state("small-two", "done");
    let calls = env.calls().len();
    let out = env
        .agent(&["plan", "run", "plan.toml", "--trust"])
        .code(128);
    assert!(
        out.stderr
            .contains("fatal: the plan would name a session 'small-two', and one exists already"),
        "{out}"
    );
    assert!(out.stderr.contains("hint: "), "{out}");
    assert!(!env.state_dir().join("plans/small.json").exists());
    assert!(env.git(&["branch", "--list", "plan/*"]).is_empty());
    assert!(!env.has_record("small-one"));
    assert_eq!(env.calls().len(), calls);
    env.agent(&["rm", "--force", "small-two"]).ok();
    // Its branch is kept: `new` could not make it again.
    let out = env
        .agent(&["plan", "run", "plan.toml", "--trust"])
        .code(128);
    assert!(
        out.stderr.contains(
            "fatal: the plan would make a branch agent/small-two for its session 'small-two', and it exists already"
        ),
        "{out}"
    );
    assert!(env.git(&["branch", "--list", "plan/*"]).is_empty());
    assert!(no_sessions(&env));
    env.git(&["branch", "-D", "agent/small-two"]);

    // A plan of that name on record.
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    wait(&env, "small").code(0);
    let tip = env.git(&["rev-parse", "plan/small"]);
    let calls = env.calls().len();
    let out = env
        .agent(&["plan", "run", "plan.toml", "--trust"])
        .code(128);
    assert!(
        out.stderr
            .contains("fatal: a plan named 'small' exists already (validated)"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: see it with: git agent plan status small"),
        "{out}"
    );
    assert_eq!(env.git(&["rev-parse", "plan/small"]), tip);
    assert_eq!(env.calls().len(), calls);
    assert_eq!(status(&env, "small")["plan"]["state"], "validated");

    // Validated, not landed: its work is on the integration branch only, so plan rm keeps
    // validate's session (on that branch) unless forced, and always keeps the branch.
    let kept = env.agent(&["plan", "rm", "small"]).code(1);
    assert!(
        kept.stderr.contains(
            "error: kept small-integration: 'small-integration' holds work that would be lost: commits on plan/small that are not merged anywhere: "
        ),
        "{kept}"
    );
    assert!(env.has_record("small-integration"));
    let removed = env.agent(&["plan", "rm", "--force", "small"]).ok();
    assert!(
        removed.stdout.contains("Removed small-integration"),
        "{removed}"
    );
    assert!(
        removed
            .stdout
            .contains("Kept plan/small: it has not landed"),
        "{removed}"
    );
    assert!(!env.has_record("small-integration"));
    assert_eq!(env.git(&["rev-parse", "plan/small"]), tip);
    assert!(archived(&env, "small"));
}

/// Validate's session is one of the plan's too: killed, it shows lost and `plan resume`
/// carries it on; stopped by `plan stop`, it is not taken for a failed validate.
#[test]
fn a_validate_killed_or_stopped_mid_run_is_carried_on_by_plan_resume() {
    let env = TestEnv::new();
    let go = env.path("validate.go");
    let count = env.path("validate.count");
    env.write(
        "plan.toml",
        &format!(
            "name = \"val\"\nbase = \"main\"\nvalidate = \"echo run >> {}; while [ ! -f {} ]; do sleep 0.05; done\"\n\n[[task]]\nid = \"only\"\nagent = \"only\"\nprompt = \"Do it\"\n",
            count.display(),
            go.display()
        ),
    );
    profile(&env, "only", "write only.txt only\ncommit only");
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    env.wait_until("validate to run", || lines_in(&env, "validate.count") == 1);

    // Stopped: the plan stops; resumed, validate runs again.
    let stopped = env.agent(&["plan", "stop", "val"]).ok();
    assert!(stopped.stdout.contains("val-integration"), "{stopped}");
    env.wait_state("val-integration", "stopped");
    assert_eq!(status(&env, "val")["plan"]["state"], "stopped");
    let resumed = env.agent(&["plan", "resume", "val"]).ok();
    assert!(
        resumed.stdout.contains("carrying on: val-integration"),
        "{resumed}"
    );
    assert_eq!(status(&env, "val")["plan"]["state"], "validating");
    env.wait_until("validate to run again", || {
        lines_in(&env, "validate.count") == 2
    });

    // Killed: lost, named by plan wait; resumed, it passes.
    env.kill_supervisor("val-integration");
    let waited = wait(&env, "val").code(1);
    assert!(waited.stdout.contains("lost: val-integration"), "{waited}");
    env.touch("validate.go");
    let resumed = env.agent(&["plan", "resume", "val"]).ok();
    assert!(
        resumed.stdout.contains("carrying on: val-integration"),
        "{resumed}"
    );
    let waited = wait(&env, "val").code(0);
    assert!(waited.stdout.contains("plan val: validated"), "{waited}");
    assert_eq!(lines_in(&env, "validate.count"), 3);
    assert_eq!(created(&env, "val-integration"), 1);
    assert_eq!(subjects(&env, "val"), ["Do it"]);
}

/// `plan resume PLAN`, held at pause point `point` until the session it resumed there,
/// `session`, has ended its second run and its supervisor is gone (its pass was left to
/// `plan resume`); then let go and waited for.
fn resume_held_while_it_ends(
    env: &mut TestEnv,
    plan: &str,
    point: &str,
    session: &str,
) -> std::process::Output {
    let release = env.path("release");
    env.set_env("GIT_AGENT_PAUSE_AT", point);
    env.set_env("GIT_AGENT_PAUSE_FILE", release.to_str().unwrap());
    let mut resume = env.command("git", &env.repo);
    resume.args(["agent", "plan", "resume", plan]);
    env.unset_env("GIT_AGENT_PAUSE_AT");
    let resume = resume
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    env.wait_until(&format!("{session}'s second run to end"), || {
        env.record(session)["runs"]
            .as_array()
            .is_some_and(|r| r.len() == 2)
            && env.stored_state(session) == "done"
    });
    env.wait_supervisor_gone(session);
    env.touch("release");
    resume.wait_with_output().unwrap()
}

/// A validate `plan resume` carries on that ends before `plan resume` itself is through: its
/// end is judged after, so the plan is validated, not set back to validating for good.
#[test]
fn a_validate_that_ends_while_plan_resume_runs_is_judged_after_it() {
    let mut env = TestEnv::new();
    let go = env.path("validate.go");
    env.write(
        "plan.toml",
        &format!(
            "name = \"val\"\nbase = \"main\"\nvalidate = \"while [ ! -f {} ]; do sleep 0.05; done\"\n\n[[task]]\nid = \"only\"\nagent = \"only\"\nprompt = \"Do it\"\n",
            go.display()
        ),
    );
    profile(&env, "only", "write only.txt only\ncommit only");
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    env.wait_until("validate to run", || {
        env.has_record("val-integration") && env.stored_state("val-integration") == "running"
    });
    env.kill_supervisor("val-integration");
    env.touch("validate.go");
    // plan resume is held once it resumed validate, which then ends at once.
    let out = resume_held_while_it_ends(
        &mut env,
        "val",
        "plan-resume:sessions-resumed",
        "val-integration",
    );
    assert!(out.status.success(), "{out:?}");
    let waited = env.agent(&["plan", "wait", "val", "--timeout", "60s"]);
    assert_eq!(waited.code, 0, "{waited}");
    assert!(waited.stdout.contains("plan val: validated"), "{waited}");
}

/// `plan resume` that fails on one session (its worktree is gone) after it resumed another,
/// which ended meanwhile: that end is still judged (the task lands), not left for a later
/// event.
#[test]
fn plan_resume_that_fails_partway_still_lands_what_ended_meanwhile() {
    let mut env = TestEnv::new();
    let gate = env.path("a.go");
    env.write(
        "plan.toml",
        "name = \"p\"\nbase = \"main\"\n\n[[task]]\nid = \"a\"\nagent = \"a\"\nprompt = \"A\"\n\n[[task]]\nid = \"b\"\nagent = \"b\"\nprompt = \"B\"\n",
    );
    profile(
        &env,
        "a",
        &format!("wait-for {}\nwrite a.txt a\ncommit a", gate.display()),
    );
    profile(
        &env,
        "b",
        &format!("wait-for {}", env.path("never").display()),
    );
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    for s in ["p-a", "p-b"] {
        env.wait_until("the tasks to run", || {
            env.has_record(s) && env.stored_state(s) == "running"
        });
        env.kill_supervisor(s);
        // Its agent too, so that only the resumed run does a's work.
        let agent = env.record(s)["processes"]["agent"]["pid"].as_i64().unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(agent).unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    // b cannot be resumed: its worktree is gone. a, resumed first, ends at once.
    std::fs::remove_dir_all(env.agents_dir().join("p-b")).unwrap();
    env.touch("a.go");
    let out = resume_held_while_it_ends(&mut env, "p", "plan-resume:session-resumed", "p-a");
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("could not resume p-b"),
        "{out:?}"
    );
    // Nobody else drives the plan now: plan resume made the pass a's end was left to.
    assert_eq!(task(&status(&env, "p"), "a")["state"], "landed");
}

/// `plan stop` while the plan is busy landing a task (its verify runs): the landing finishes,
/// and the task it unblocked does not start.
#[test]
fn a_plan_stopped_while_a_task_lands_starts_nothing_after() {
    let env = TestEnv::new();
    let verifying = env.path("verifying");
    let go = env.path("verify.go");
    env.write(
        "plan.toml",
        &HALT.replace(
            "touches = [\"a.txt\"]",
            &format!(
                "touches = [\"a.txt\"]\nverify = \"touch {}; while [ ! -f {} ]; do sleep 0.05; done\"",
                verifying.display(),
                go.display()
            ),
        ),
    );
    profile(&env, "a", "write a.txt a\ncommit a");
    profile(&env, "b", "write b.txt b\ncommit b");
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    env.wait_until("a's verify to run", || verifying.exists());
    env.agent(&["plan", "stop", "halt"]).ok();
    env.touch("verify.go");
    env.wait_until("a to land", || {
        task(&status(&env, "halt"), "a")["state"] == "landed"
    });
    // The advance that landed it has let go of the plan.
    let lock = std::fs::File::open(env.state_dir().join("plans/halt/drive.lock")).unwrap();
    env.wait_until("the advance to end", || lock.try_lock().is_ok());
    drop(lock);
    let doc = status(&env, "halt");
    assert_eq!(doc["plan"]["state"], "stopped");
    assert_eq!(task(&doc, "b")["state"], "waiting", "{doc:#}");
    assert!(!env.has_record("halt-b"));

    env.agent(&["plan", "resume", "halt"]).ok();
    wait(&env, "halt").code(0);
    assert_eq!(subjects(&env, "halt"), ["Start it", "Finish it"]);
}

/// A session name a plan reuses (a task's, after a session of that name was removed): each
/// removal keeps its own archive entry, even within the same second.
#[test]
fn removing_a_session_name_twice_in_one_second_keeps_both_archived() {
    let env = TestEnv::new();
    env.spawn(&["--name", "dup"], "print first");
    env.wait_state("dup", "done");
    env.agent(&["rm", "dup"]).ok();
    env.git(&["branch", "-D", "agent/dup"]);
    // Whatever second the next removal falls in, an entry of that name is there already.
    let archive = env.state_dir().join("archive");
    let now = jiff::Timestamp::now().as_second();
    let mut planted = 0;
    for s in now - 2..now + 60 {
        let dir = archive.join(format!("dup.{s}"));
        let json = archive.join(format!("dup.{s}.json"));
        // The first removal's record and files may straddle a second: never plant over either.
        if !dir.exists() && !json.exists() {
            planted += 2;
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("placeholder"), "earlier").unwrap();
            std::fs::write(&json, "earlier").unwrap();
        }
    }
    env.spawn(&["--name", "dup"], "print second");
    env.wait_state("dup", "done");
    env.agent(&["rm", "dup"]).ok();
    assert!(!env.has_record("dup"));
    let mut placeholders = 0;
    let mut records = 0;
    for e in std::fs::read_dir(&archive).unwrap().flatten() {
        let path = e.path();
        if path.join("placeholder").exists() {
            placeholders += 1;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text == "earlier" {
            placeholders += 1;
        } else if text.contains("\"name\": \"dup\"") {
            records += 1;
        }
    }
    assert_eq!(placeholders, planted, "an earlier entry was replaced");
    assert_eq!(records, 2, "both removals are archived");
}
