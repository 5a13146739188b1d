//! `git agent doctor`: what crashes, moves and other tools leave behind, explained and fixed
//! without losing anything.

use std::path::PathBuf;

use crate::support::{TestEnv, process_gone};

fn worktree(env: &TestEnv, name: &str) -> PathBuf {
    env.agents_dir().join(name)
}

fn done(env: &TestEnv, name: &str, script: &str) {
    env.spawn(&["--name", name, "t"], script);
    env.wait_state(name, "done");
    // Its supervisor's last steps (the queue, the plan, notifications) read every record:
    // a record damaged before they end would be found by them, not by the test.
    env.wait_supervisor_gone(name);
}

#[test]
fn a_healthy_repository_has_no_problems() {
    let env = TestEnv::new();
    done(&env, "ok", "write a.txt a\ncommit a");
    let out = env.agent(&["doctor"]).ok();
    assert_eq!(out.stdout, "No problems found.\n");
    let json = env.agent(&["doctor", "--json"]).ok().json();
    assert_eq!(json["problems"], 0);
}

#[test]
fn a_deleted_worktree_is_explained_and_its_entry_removed() {
    let env = TestEnv::new();
    done(&env, "del", "write a.txt a\ncommit a");
    let tip = env
        .git(&["rev-parse", "--short", "agent/del"])
        .trim()
        .to_owned();
    std::fs::remove_dir_all(worktree(&env, "del")).unwrap();
    let out = env.agent(&["doctor"]).code(1);
    assert!(out.stdout.contains("del: its worktree"), "{out}");
    assert!(
        out.stdout.contains(&format!(
            "its branch agent/del keeps what was committed (at {tip})"
        )),
        "{out}"
    );
    assert!(out.stdout.contains("--fix: git worktree remove"), "{out}");
    let out = env.agent(&["doctor", "--fix"]).ok();
    assert!(out.stdout.contains("fixed: git worktree remove"), "{out}");
    let out = env.agent(&["doctor"]).ok();
    assert!(
        out.stdout
            .contains("'git agent rm del' archives the record"),
        "{out}"
    );
    let list = env.git(&["worktree", "list", "--porcelain"]);
    assert!(!list.contains("/del"), "{list}");
    assert!(
        env.git(&["branch", "--list", "agent/del"])
            .contains("agent/del")
    );
    // What is left is the record: rm (with force, the work being unmerged) archives it.
    env.agent(&["rm", "--force", "del"]).ok();
    env.agent(&["doctor"]).ok();
}

#[test]
fn a_moved_worktree_is_followed() {
    let env = TestEnv::new();
    done(&env, "mv", "write a.txt a\ncommit a");
    let new = env.root().join("elsewhere");
    env.git(&[
        "worktree",
        "move",
        worktree(&env, "mv").to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    let out = env.agent(&["doctor", "--fix"]).ok();
    assert!(out.stdout.contains("mv: its worktree moved from"), "{out}");
    assert_eq!(env.record("mv")["worktree"], new.to_str().unwrap());
    env.agent(&["doctor"]).ok();
    let path = env.agent(&["path", "mv"]).ok();
    assert_eq!(path.stdout.trim(), new.to_str().unwrap());
}

#[test]
fn a_repository_moved_with_its_worktrees_is_repaired() {
    let env = TestEnv::new();
    done(&env, "w", "write a.txt a\ncommit a");
    let moved = env.root().join("moved");
    std::fs::create_dir(&moved).unwrap();
    std::fs::rename(&env.repo, moved.join("repo")).unwrap();
    std::fs::rename(env.agents_dir(), moved.join("repo.agents")).unwrap();
    let repo = moved.join("repo");
    let out = env.agent_in(&repo, &["doctor"]).code(1);
    assert!(out.stdout.contains("w: the repository moved from"), "{out}");
    assert!(out.stdout.contains("--fix: git worktree repair"), "{out}");
    env.agent_in(&repo, &["doctor", "--fix"]).ok();
    let wt = moved.join("repo.agents/w");
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    let list = env.git_in(&repo, &["worktree", "list", "--porcelain"]);
    assert!(list.contains(wt.to_str().unwrap()), "{list}");
    env.agent_in(&repo, &["doctor"]).ok();
    // And the session works from there: it merges.
    env.agent_in(&repo, &["merge", "w"]).ok();
    assert!(repo.join("a.txt").exists());
}

#[test]
fn lost_sessions_stale_locks_and_strays() {
    let env = TestEnv::new();
    // An agent that starts a detached server and exits: the server outlives it.
    let pid_file = env.path("daemon.pid");
    done(&env, "srv", &format!("spawn-daemon {}", pid_file.display()));
    // The daemon writes its pid after the agent that started it has ended.
    let daemon = env.read_pid(&pid_file);
    // A lost session.
    env.spawn(&["--name", "lost", "t"], "sleep 300");
    let sup = env.record("lost")["processes"]["supervisor"]["pid"]
        .as_i64()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    env.wait_until("lost", || {
        env.agent(&["list", "--json"]).ok().json()["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "lost" && s["state"] == "lost")
    });
    // Locks a crash left: our worktree lock on an ended session, git's index.lock.
    let wt = worktree(&env, "srv");
    env.git(&[
        "worktree",
        "lock",
        "--reason",
        "git-agent: agent 'srv' is running",
        wt.to_str().unwrap(),
    ]);
    let index_lock = env.repo.join(".git/worktrees/srv/index.lock");
    std::fs::write(&index_lock, "").unwrap();
    #[allow(clippy::disallowed_methods)]
    let touched = std::process::Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&index_lock)
        .status()
        .unwrap();
    assert!(touched.success());

    let out = env.agent(&["doctor"]).code(1);
    assert!(
        out.stdout
            .contains("lost: recorded as running, but its supervisor is gone"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("srv: its worktree is still locked for a run that ended"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("index.lock was left by a git that is no longer running"),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!(
            "srv: process {daemon} (sleep 300) was started by its agent"
        )),
        "{out}"
    );
    assert!(
        !process_gone(daemon),
        "doctor without --reap touches no process"
    );

    let out = env.agent(&["doctor", "--fix", "--reap"]).ok();
    assert!(
        out.stdout.contains("No problems found.") && !out.stdout.contains("✗"),
        "{out}"
    );
    env.wait_until("the stray to go", || process_gone(daemon));
    assert!(!index_lock.exists());
    assert_eq!(env.stored_state("lost"), "stopped");
    env.agent(&["doctor"]).ok();
    // The worktree can be removed now that it is unlocked.
    env.agent(&["rm", "srv"]).ok();
}

#[test]
fn a_damaged_record_is_quarantined_explained_and_rebuilt() {
    let env = TestEnv::new();
    done(&env, "dmg", "write a.txt a\ncommit a");
    let record = env.state_dir().join("sessions/dmg.json");
    let text = std::fs::read_to_string(&record).unwrap();
    std::fs::write(&record, &text[..text.len() / 2]).unwrap();
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stderr.contains("session record 'dmg' is damaged"),
        "{list}"
    );
    let out = env.agent(&["doctor"]).code(1);
    assert!(
        out.stdout
            .contains("dmg: its record was damaged and is kept in"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("--fix: rebuild a record from its worktree"),
        "{out}"
    );
    env.agent(&["doctor", "--fix"]).ok();
    let r = env.record("dmg");
    assert_eq!(r["state"], "stopped");
    assert_eq!(r["branch"], "agent/dmg");
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stdout.contains("dmg") && list.stdout.contains("1 file +1 -0"),
        "{list}"
    );
    env.agent(&["doctor"]).ok();
    // The damaged file itself is never deleted.
    let kept = std::fs::read_dir(env.state_dir().join("quarantine"))
        .unwrap()
        .count();
    assert_eq!(kept, 1);
    // A garbled, an empty and a future record: list keeps working, doctor explains.
    std::fs::write(
        env.state_dir().join("sessions/garbled.json"),
        "{{{ not json",
    )
    .unwrap();
    std::fs::write(env.state_dir().join("sessions/empty.json"), "").unwrap();
    let future = text
        .replace("\"version\": 1", "\"version\": 99")
        .replace("\"dmg\"", "\"future\"");
    std::fs::write(env.state_dir().join("sessions/future.json"), future).unwrap();
    let list = env.agent(&["list"]).ok();
    assert!(list.stdout.contains("dmg"), "{list}");
    let out = env.agent(&["doctor"]).code(1);
    assert!(
        out.stdout.contains("garbled: its record was damaged"),
        "{out}"
    );
    assert!(
        out.stdout.contains("empty: its record was damaged"),
        "{out}"
    );
    assert!(out.stdout.contains("future"), "{out}");
    assert!(
        out.stdout
            .contains("git has no worktree on its branch to rebuild it from"),
        "{out}"
    );
}

#[test]
fn kill_9_at_every_step_of_new_leaves_nothing_doctor_cannot_put_right() {
    for point in ["new:reserved", "new:worktree", "new:spawned"] {
        let mut env = TestEnv::new();
        let fake = env.fake("k", "write k.txt kept\ncommit k");
        env.set_env("GIT_AGENT_CRASH_AT", point);
        let mut args = vec!["new", "--name", "k", "t"];
        args.extend(fake.iter().map(String::as_str));
        let out = env.agent(&args);
        assert_ne!(
            out.code, 0,
            "{point}: the crash point was not reached:\n{out}"
        );
        env.set_env("GIT_AGENT_CRASH_AT", "");
        if point == "new:spawned" {
            // The supervisor was already detached: the session carries on without `new`.
            env.wait_state("k", "done");
            assert!(
                env.git(&["log", "--format=%s", "agent/k"]).contains("k"),
                "{point}"
            );
        }
        let fix = env.agent(&["doctor", "--fix"]);
        assert_eq!(fix.code, 0, "{point}: {fix}");
        let again = env.agent(&["doctor"]);
        assert_eq!(again.code, 0, "{point}: {again}");
        if point != "new:spawned" {
            assert!(
                fix.stdout.contains("interrupted before its agent started"),
                "{point}: {fix}"
            );
            assert!(!env.has_record("k"), "{point}");
            assert!(!worktree(&env, "k").exists(), "{point}");
            assert!(
                env.git(&["branch", "--list", "agent/k"]).is_empty(),
                "{point}"
            );
            // And the name is free again.
            env.spawn(&["--name", "k", "t"], "exit 0");
            env.wait_state("k", "done");
        }
    }
}

#[test]
fn kill_9_at_every_step_of_rm_loses_no_work() {
    for point in ["rm:stopped", "rm:worktree-removed", "rm:archived"] {
        let mut env = TestEnv::new();
        done(&env, "r", "write r.txt precious\ncommit r");
        let tip = env.git(&["rev-parse", "agent/r"]);
        env.set_env("GIT_AGENT_CRASH_AT", point);
        let out = env.agent(&["rm", "--force", "r"]);
        assert_ne!(
            out.code, 0,
            "{point}: the crash point was not reached:\n{out}"
        );
        env.set_env("GIT_AGENT_CRASH_AT", "");
        let fix = env.agent(&["doctor", "--fix"]);
        assert_eq!(fix.code, 0, "{point}: {fix}");
        assert_eq!(env.agent(&["doctor"]).code, 0, "{point}");
        if env.has_record("r") {
            env.agent(&["rm", "--force", "r"]).ok();
        }
        assert!(!env.has_record("r"), "{point}");
        assert!(!worktree(&env, "r").exists(), "{point}");
        assert_eq!(
            env.git(&["rev-parse", "agent/r"]),
            tip,
            "{point}: the work is kept"
        );
        let all = env.agent(&["list", "--all", "--json"]).ok().json();
        let archived = all["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["name"] == "r")
            .count();
        assert!(archived >= 1, "{point}: {all:#}");
        assert_eq!(env.agent(&["doctor"]).code, 0, "{point}");
    }
}

#[test]
fn twenty_concurrent_commands_keep_every_record_valid() {
    let env = TestEnv::new();
    for i in 0..5 {
        done(&env, &format!("old{i}"), "exit 0");
    }
    let outs: Vec<(String, crate::support::Out)> = std::thread::scope(|scope| {
        let env = &env;
        let mut handles = Vec::new();
        for i in 0..8 {
            handles.push(scope.spawn(move || {
                let fake = env.fake(&format!("c{i}"), "write c.txt c\ncommit c");
                let name = format!("c{i}");
                let mut args = vec!["new", "--name", name.as_str(), "t"];
                args.extend(fake.iter().map(String::as_str));
                (format!("new {name}"), env.agent(&args))
            }));
        }
        for i in 0..5 {
            handles.push(scope.spawn(move || {
                let name = format!("old{i}");
                (format!("rm {name}"), env.agent(&["rm", &name]))
            }));
        }
        for _ in 0..4 {
            handles.push(scope.spawn(move || ("list".to_owned(), env.agent(&["list", "--json"]))));
        }
        for _ in 0..3 {
            handles.push(scope.spawn(move || ("clean".to_owned(), env.agent(&["clean", "--yes"]))));
        }
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outs.len(), 20);
    for (what, out) in &outs {
        let err = &out.stderr;
        assert!(
            !err.contains("could not lock")
                && !err.contains("damaged")
                && !err.contains("panicked"),
            "{what}: {out}"
        );
        match what.split_whitespace().next().unwrap() {
            // Removed by a concurrent clean first: fine.
            "rm" => assert!(
                out.code == 0 || out.stderr.contains("no session named"),
                "{what}: {out}"
            ),
            "list" => {
                out.json();
            }
            _ => assert_eq!(out.code, 0, "{what}: {out}"),
        }
    }
    for i in 0..8 {
        env.wait_state(&format!("c{i}"), "done");
    }
    let list = env.agent(&["list", "--json"]).ok().json();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 8, "{list:#}");
    for i in 0..5 {
        assert!(!env.has_record(&format!("old{i}")));
    }
    let quarantine = env.state_dir().join("quarantine");
    assert_eq!(
        std::fs::read_dir(&quarantine).map_or(0, |d| d.count()),
        0,
        "no record was damaged"
    );
    env.agent(&["doctor"]).ok();
}
