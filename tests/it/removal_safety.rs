//! What a session may take, keep and remove (DESIGN §5, invariants 1–3 and 12): a worktree is a
//! session's only if git-agent created it for it; a worktree whose checkout vanished, or that
//! has submodules, can still be removed without losing anything; what a killed git leaves
//! behind (lock files, half-made worktree entries) does not stop `doctor --fix`.

use std::path::{Path, PathBuf};

use crate::support::TestEnv;

fn worktree(env: &TestEnv, name: &str) -> PathBuf {
    env.agents_dir().join(name)
}

fn done(env: &TestEnv, name: &str, script: &str) {
    env.spawn(&["--name", name, "t"], script);
    env.wait_state(name, "done");
}

/// Sets a file's modification time in the past (a lock or entry left long ago).
fn age(path: &Path) {
    #[allow(clippy::disallowed_methods)] // a test setting up a file's age
    let touched = std::process::Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(path)
        .status()
        .unwrap();
    assert!(touched.success());
}

fn locked_entries(env: &TestEnv) -> usize {
    env.git(&["worktree", "list", "--porcelain"])
        .lines()
        .filter(|l| l.starts_with("locked"))
        .count()
}

#[test]
fn doctor_never_adopts_the_main_checkout_as_a_sessions_worktree() {
    let env = TestEnv::new();
    done(&env, "x", "write a.txt agent\ncommit a");
    let tip = env.git(&["rev-parse", "agent/x"]);
    std::fs::remove_dir_all(worktree(&env, "x")).unwrap();
    // The user checks the branch out in the main checkout and works there.
    env.git(&["checkout", "-q", "--ignore-other-worktrees", "agent/x"]);
    env.write("README.md", "the user's edit\n");
    env.write("mine.txt", "the user's new file\n");

    let out = env.agent(&["doctor"]).code(1);
    assert!(
        out.stdout.contains(&format!(
            "agent/x is checked out in {}, which is not its worktree (it is the main worktree) and is left alone",
            env.repo.display()
        )),
        "{out}"
    );
    let out = env.agent(&["doctor", "--fix"]).ok();
    assert!(!out.stdout.contains("moved from"), "{out}");
    assert_ne!(env.record("x")["worktree"], env.repo.to_str().unwrap());
    env.agent(&["doctor"]).ok();
    // A follow-up runs nowhere; the user's files stay theirs, uncommitted.
    let send = env.agent(&["send", "x", "more"]);
    assert_ne!(send.code, 0, "{send}");
    assert!(send.stderr.contains("fatal:"), "{send}");
    assert_eq!(env.git(&["rev-parse", "agent/x"]), tip);
    let status = env.git(&["status", "--porcelain"]);
    assert!(
        status.contains(" M README.md") && status.contains("?? mine.txt"),
        "{status}"
    );
    // Removing the session leaves the main checkout alone.
    env.agent(&["rm", "--force", "x"]).ok();
    assert!(env.repo.join("mine.txt").exists());
}

#[test]
fn a_record_pointing_at_a_worktree_git_agent_did_not_create_is_never_used() {
    let env = TestEnv::new();
    done(&env, "y", "write a.txt agent\ncommit a");
    let tip = env.git(&["rev-parse", "agent/y"]);
    // What an older doctor did: the record points at the main checkout, on the branch.
    std::fs::remove_dir_all(worktree(&env, "y")).unwrap();
    env.git(&["worktree", "remove", worktree(&env, "y").to_str().unwrap()]);
    env.git(&["checkout", "-q", "agent/y"]);
    env.write("mine.txt", "the user's new file\n");
    let path = env.state_dir().join("sessions/y.json");
    let mut record = env.record("y");
    record["worktree"] = env.repo.to_str().unwrap().into();
    std::fs::write(&path, serde_json::to_string_pretty(&record).unwrap()).unwrap();

    let send = env.agent(&["send", "y", "more"]);
    assert_ne!(send.code, 0, "{send}");
    assert!(send.stderr.contains("it is the main worktree"), "{send}");
    assert_eq!(env.git(&["rev-parse", "agent/y"]), tip);
    assert!(env.git(&["status", "--porcelain"]).contains("?? mine.txt"));
    let resume = env.agent(&["resume", "y"]);
    assert_ne!(resume.code, 0, "{resume}");

    let out = env.agent(&["doctor"]).code(1);
    assert!(
        out.stdout
            .contains("which is not a worktree git-agent created for it"),
        "{out}"
    );
    env.agent(&["doctor", "--fix"]).ok();
    assert_ne!(env.record("y")["worktree"], env.repo.to_str().unwrap());
    env.agent(&["doctor"]).ok();

    // A worktree another tool made at the recorded place is not the session's either.
    done(&env, "z", "write z.txt agent\ncommit z");
    let z = worktree(&env, "z");
    std::fs::remove_dir_all(&z).unwrap();
    env.git(&["worktree", "remove", z.to_str().unwrap()]);
    env.git(&["worktree", "add", "-q", z.to_str().unwrap(), "agent/z"]);
    std::fs::write(z.join("theirs.txt"), "another tool's file\n").unwrap();
    let send = env.agent(&["send", "z", "more"]);
    assert!(
        send.stderr.contains("git-agent did not create it"),
        "{send}"
    );
    let rm = env.agent(&["rm", "--force", "z"]).ok();
    assert!(rm.stdout.contains("left alone"), "{rm}");
    assert!(z.join("theirs.txt").exists());
}

#[test]
fn records_from_before_the_mark_keep_working_at_their_recorded_place() {
    let env = TestEnv::new();
    done(&env, "old", "write a.txt agent\ncommit a");
    // Its supervisor reads every record on its way out (the queue): the record is rewritten
    // below in place, not atomically, so only once nothing else reads it.
    env.wait_supervisor_gone("old");
    assert!(env.record("old")["worktree_id"].is_string());
    // An older record: no id, no mark in the admin directory.
    let id = env.record("old")["worktree_id"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::remove_file(
        env.repo
            .join(".git/worktrees")
            .join(&id)
            .join("git-agent-session"),
    )
    .unwrap();
    let path = env.state_dir().join("sessions/old.json");
    let mut record = env.record("old");
    record.as_object_mut().unwrap().remove("worktree_id");
    std::fs::write(&path, serde_json::to_string_pretty(&record).unwrap()).unwrap();
    env.agent(&["doctor"]).ok();
    env.agent(&["send", "old", "more"]).ok();
    env.wait_until("the follow-up to end", || {
        let r = env.record("old");
        r["runs"].as_array().unwrap().len() == 2
            && !["starting", "running"].contains(&r["state"].as_str().unwrap())
    });
    assert!(env.record("old")["runs"][1]["started_at"].is_string());
    env.agent(&["rm", "--force", "old"]).ok();
    assert!(!worktree(&env, "old").exists());
}

#[test]
fn a_worktree_deleted_while_its_agent_runs_can_be_cleaned_up() {
    let ways: [&[&str]; 4] = [
        &["rm", "w"],
        &["rm", "--force", "w"],
        &["clean", "--all", "--yes"],
        &["doctor", "--fix"],
    ];
    for way in ways {
        let env = TestEnv::new();
        let go = env.path("go");
        env.spawn(
            &["--name", "w", "t"],
            &format!("wait-for {}\nexit 0", go.display()),
        );
        env.wait_state("w", "running");
        assert_eq!(locked_entries(&env), 1);
        std::fs::remove_dir_all(worktree(&env, "w")).unwrap();
        env.touch("go");
        env.wait_until("the run to end", || {
            !["starting", "running"].contains(&env.stored_state("w").as_str())
        });
        // The end of the run takes our lock back, checkout or not.
        assert_eq!(locked_entries(&env), 0, "{way:?}");
        // A lock an older build (or a crash) left: each way of removing takes it back first.
        env.git(&[
            "worktree",
            "lock",
            "--reason",
            "git-agent: agent 'w' is running",
            worktree(&env, "w").to_str().unwrap(),
        ]);
        let out = env.agent(way);
        assert_eq!(out.code, 0, "{way:?}: {out}");
        let list = env.git(&["worktree", "list", "--porcelain"]);
        assert!(!list.contains("repo.agents"), "{way:?}: {list}");
        if way[0] != "doctor" {
            assert!(!env.has_record("w"), "{way:?}");
        }
    }
}

#[test]
fn doctor_fix_goes_on_past_a_fix_that_fails() {
    let env = TestEnv::new();
    done(&env, "p", "exit 0");
    done(&env, "q", "exit 0");
    // p's entry is locked by someone else: its removal fails; q's still happens.
    for n in ["p", "q"] {
        std::fs::remove_dir_all(worktree(&env, n)).unwrap();
    }
    env.git(&[
        "worktree",
        "lock",
        "--reason",
        "another tool",
        worktree(&env, "p").to_str().unwrap(),
    ]);
    let out = env.agent(&["doctor", "--fix"]).code(1);
    assert!(out.stdout.contains("could not fix it:"), "{out}");
    let list = env.git(&["worktree", "list", "--porcelain"]);
    assert!(!list.contains("repo.agents/q"), "{list}");
    assert!(list.contains("locked another tool"), "{list}");
}

/// A repository with a submodule (`vendor/lib`, a local repository).

#[test]
fn sessions_with_submodules_are_removed_when_nothing_is_lost() {
    let env = TestEnv::new();
    env.add_submodule();
    done(&env, "clean", "print x");
    assert!(worktree(&env, "clean").join("vendor/lib/lib.txt").exists());
    env.agent(&["rm", "clean"]).ok();
    assert!(!worktree(&env, "clean").exists());
    done(&env, "merged", "write a.txt a\ncommit a");
    env.agent(&["merge", "merged"]).ok();
    assert!(!worktree(&env, "merged").exists());
    done(&env, "tidy", "print x");
    env.agent(&["clean", "--yes"]).ok();
    assert!(!worktree(&env, "tidy").exists());
    assert!(!env.has_record("tidy"));
}

#[test]
fn sessions_whose_submodules_hold_work_are_refused_listing_it() {
    let env = TestEnv::new();
    env.add_submodule();
    // An untracked file inside the submodule.
    done(&env, "untracked", "print x");
    let wt = worktree(&env, "untracked");
    std::fs::write(wt.join("vendor/lib/notes.txt"), "only here\n").unwrap();
    let out = env.agent(&["rm", "untracked"]).code(1);
    assert!(out.stderr.contains("vendor/lib: ?? notes.txt"), "{out}");
    assert!(wt.join("vendor/lib/notes.txt").exists());
    // A commit inside the submodule that no remote has (the superproject records it).
    done(&env, "unpushed", "print x");
    let wt = worktree(&env, "unpushed");
    let sub = wt.join("vendor/lib");
    std::fs::write(sub.join("lib.txt"), "improved\n").unwrap();
    env.git_in(&sub, &["commit", "-q", "-am", "improve the library"]);
    env.git_in(&wt, &["commit", "-q", "-am", "bump the library"]);
    env.agent(&["merge", "unpushed"]).ok();
    // Merged into main, yet the submodule's commit exists only in the worktree's clone.
    let out = env.agent(&["rm", "unpushed"]).code(1);
    assert!(
        out.stderr.contains("vendor/lib: commit")
            && out.stderr.contains("improve the library")
            && out.stderr.contains("is on no remote branch"),
        "{out}"
    );
    assert!(sub.join("lib.txt").exists());
    // The user's force flag decides.
    env.agent(&["rm", "--force", "unpushed"]).ok();
    assert!(!wt.exists());
}

#[test]
fn stale_git_lock_files_are_reported_and_removed() {
    let env = TestEnv::new();
    done(&env, "l", "write a.txt a\ncommit a");
    let git = env.repo.join(".git");
    let stale = [
        git.join("packed-refs.lock"),
        git.join("refs/heads/agent/l.lock"),
        git.join("worktrees/l/index.lock"),
    ];
    for lock in &stale {
        std::fs::write(lock, "").unwrap();
        age(lock);
    }
    // A fresh one may belong to a git at work: left alone.
    let fresh = git.join("config.lock");
    std::fs::write(&fresh, "").unwrap();
    let out = env.agent(&["doctor"]).code(1);
    for lock in &stale {
        assert!(
            out.stdout.contains(&format!(
                "{} was left by a git that is no longer running",
                lock.display()
            )),
            "{out}"
        );
    }
    assert!(!out.stdout.contains("config.lock"), "{out}");
    let out = env.agent(&["doctor", "--fix"]).ok();
    for lock in &stale {
        assert!(
            out.stdout
                .contains(&format!("fixed: remove {}", lock.display())),
            "{out}"
        );
        assert!(!lock.exists());
    }
    assert!(fresh.exists());
    std::fs::remove_file(&fresh).unwrap();
    // git works again: the branch can go.
    env.agent(&["rm", "--force", "--delete-branch", "l"]).ok();
}

#[test]
fn a_half_made_worktree_entry_is_explained_and_removed() {
    let mut env = TestEnv::new();
    done(&env, "fine", "exit 0");
    // `new` killed during `git worktree add`: the record is reserved, git's entry has no
    // `commondir` (nor `HEAD`), the checkout folder only its `.git` file.
    let fake = env.fake("h", "exit 0");
    env.set_env("GIT_AGENT_CRASH_AT", "new:reserved");
    let mut args = vec!["new", "--name", "h", "t"];
    args.extend(fake.iter().map(String::as_str));
    assert_ne!(env.agent(&args).code, 0);
    env.set_env("GIT_AGENT_CRASH_AT", "");
    let admin = env.repo.join(".git/worktrees/h");
    let checkout = worktree(&env, "h");
    std::fs::create_dir_all(&admin).unwrap();
    std::fs::create_dir_all(&checkout).unwrap();
    std::fs::write(
        admin.join("gitdir"),
        format!("{}\n", checkout.join(".git").display()),
    )
    .unwrap();
    std::fs::write(admin.join("locked"), "initializing").unwrap();
    std::fs::write(
        checkout.join(".git"),
        format!("gitdir: {}\n", admin.display()),
    )
    .unwrap();
    age(&admin);

    let out = env.agent(&["doctor"]).code(1);
    assert!(
        out.stdout.contains(&format!(
            "{} is a worktree entry a killed 'git worktree add' left half made",
            admin.display()
        )),
        "{out}"
    );
    let out = env.agent(&["doctor", "--fix"]).ok();
    assert!(out.stdout.contains("fixed: remove"), "{out}");
    assert!(!admin.exists() && !checkout.exists());
    assert!(!env.has_record("h"));
    env.agent(&["doctor"]).ok();
    assert!(env.has_record("fine"));
    env.git(&["worktree", "list"]);

    // One git-agent did not make is explained, never removed.
    let other = env.repo.join(".git/worktrees/other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("gitdir"), "/somewhere/else/.git\n").unwrap();
    age(&other);
    let out = env.agent(&["doctor", "--fix"]).code(1);
    assert!(out.stdout.contains("git-agent did not make it"), "{out}");
    assert!(other.exists());
}

#[test]
fn a_session_whose_submodule_could_not_be_cloned_can_be_removed() {
    let env = TestEnv::new();
    env.add_submodule();
    // The library is gone (a private URL, no network): its clone fails in the new worktree.
    std::fs::rename(env.root().join("lib"), env.root().join("lib-moved")).unwrap();
    let fake = env.fake("nosub", "print x");
    let mut args = vec!["new", "--name", "nosub", "t"];
    args.extend(fake.iter().map(String::as_str));
    env.agent(&args).ok();
    env.wait_state("nosub", "setup-failed");
    let out = env.agent(&["rm", "nosub"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!worktree(&env, "nosub").exists(), "{out}");

    // The same, with a file left in the folder of the submodule that is not there: kept.
    env.git(&["config", "agent.submodules", "false"]);
    let fake = env.fake("kept", "write vendor/lib/mine.txt only here");
    let mut args = vec!["new", "--name", "kept", "t"];
    args.extend(fake.iter().map(String::as_str));
    env.agent(&args).ok();
    env.wait_state("kept", "done");
    let out = env.agent(&["rm", "kept"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        worktree(&env, "kept").join("vendor/lib/mine.txt").exists(),
        "{out}"
    );
}
