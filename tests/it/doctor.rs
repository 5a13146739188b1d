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
    let daemon: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
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
        out.stdout.contains("No problems found.") || !out.stdout.contains("✗"),
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
