//! `git agent rm` and `clean`: cleanup that never loses work (DESIGN §5, invariants 1–3).

use std::path::PathBuf;

use crate::support::TestEnv;

fn commit_all(env: &TestEnv, message: &str) {
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", message]);
}

fn rev(env: &TestEnv, spec: &str) -> String {
    env.git(&["rev-parse", spec]).trim().to_owned()
}

fn worktree(env: &TestEnv, name: &str) -> PathBuf {
    env.agents_dir().join(name)
}

/// Puts a `git` first on `PATH` that logs every call (to prove what was never run).
fn log_git_calls(env: &TestEnv) -> PathBuf {
    let real = which::which("git").unwrap();
    let log = env.root().join("git-calls.log");
    let wrapper = env.bin.join("git");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    log
}

/// The four states of the reliability suite, plus a squash-merged branch whose base did not
/// touch its files again:
/// (a) a dirty tracked file, (b) an untracked file only, (c) one unmerged commit,
/// (d) squash-merged into a base that has since changed the same file, (e) squash-merged.
fn four_states() -> TestEnv {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "a", "--no-auto-commit", "t"],
        "write README.md changed",
    );
    env.spawn(&["--name", "b", "--no-auto-commit", "t"], "write new.txt x");
    env.spawn(&["--name", "c", "t"], "write c.txt c\ncommit add c");
    env.spawn(&["--name", "d", "t"], "write d.txt d\ncommit add d");
    env.spawn(
        &["--name", "e", "t"],
        "write e.txt e\ncommit add e\nappend e.txt more\ncommit more e",
    );
    for n in ["a", "b", "c", "d", "e"] {
        env.wait_state(n, "done");
    }
    for n in ["d", "e"] {
        env.git(&["merge", "-q", "--squash", &format!("agent/{n}")]);
        env.git(&["commit", "-q", "-m", &format!("squash {n}")]);
    }
    // The base moves on, and changes d's file again: "merging would add nothing" no longer
    // holds for d, only patch-equivalence does.
    env.write("d.txt", "d, changed since\n");
    env.write("later.txt", "later\n");
    commit_all(&env, "main moves on");
    env
}

#[test]
fn clean_removes_only_merged_work_and_rm_refuses_to_lose_any() {
    let env = four_states();
    let log = log_git_calls(&env);

    let plan = env.agent(&["clean", "--dry-run"]).ok();
    assert!(
        plan.stdout
            .contains("Would remove (their branches are kept):"),
        "{plan}"
    );
    assert!(plan.stdout.contains("  d  squash-merged"), "{plan}");
    assert!(plan.stdout.contains("  e  squash-merged"), "{plan}");
    assert!(
        plan.stdout
            .contains("  a  1 uncommitted change(s) in its worktree"),
        "{plan}"
    );
    assert!(
        plan.stdout
            .contains("  b  1 uncommitted change(s) in its worktree"),
        "{plan}"
    );
    assert!(plan.stdout.contains("  c  not merged: 1 commit"), "{plan}");

    // Without a terminal, clean needs --yes.
    let out = env.agent(&["clean"]).code(3);
    assert!(out.stderr.contains("--yes"), "{out}");
    assert!(worktree(&env, "d").exists());

    let (d_tip, e_tip) = (rev(&env, "agent/d"), rev(&env, "agent/e"));
    let out = env.agent(&["clean", "--yes"]).ok();
    assert!(out.stdout.contains("Removed d (squash-merged)"), "{out}");
    assert!(out.stdout.contains("Removed e (squash-merged)"), "{out}");
    for n in ["a", "b", "c"] {
        assert!(worktree(&env, n).exists(), "{n} must stay");
        assert!(env.has_record(n));
    }
    assert!(!worktree(&env, "d").exists() && !worktree(&env, "e").exists());
    assert_eq!(rev(&env, "agent/d"), d_tip, "branches are kept");
    assert_eq!(rev(&env, "agent/e"), e_tip);

    let out = env.agent(&["rm", "a"]).code(1);
    assert!(
        out.stderr.contains("'a' holds work that would be lost"),
        "{out}"
    );
    assert!(out.stderr.contains(".M README.md"), "{out}");
    assert!(out.stderr.contains("git agent rm --force a"), "{out}");
    let out = env.agent(&["rm", "b"]).code(1);
    assert!(out.stderr.contains("?? new.txt"), "{out}");
    let out = env.agent(&["rm", "c"]).code(1);
    assert!(
        out.stderr
            .contains("commits on agent/c that are not merged anywhere"),
        "{out}"
    );
    assert!(out.stderr.contains("add c"), "{out}");
    let plan = env.agent(&["rm", "c", "--dry-run"]).code(1);
    assert!(plan.stdout.contains("Would refuse to remove c:"), "{plan}");
    for n in ["a", "b", "c"] {
        assert!(worktree(&env, n).exists(), "{n} must stay");
    }
    assert_eq!(
        std::fs::read_to_string(worktree(&env, "a").join("README.md")).unwrap(),
        "changed\n"
    );

    // Nothing forced ran so far.
    let calls = std::fs::read_to_string(&log).unwrap();
    for forbidden in [
        "branch -D",
        "worktree remove --force",
        "worktree prune",
        "stash",
    ] {
        assert!(
            !calls.contains(forbidden),
            "ran `{forbidden}` without force:\n{calls}"
        );
    }

    // --force removes the worktree and keeps the branch, printing its tip.
    let c_tip = rev(&env, "agent/c");
    let out = env.agent(&["rm", "--force", "c"]).ok();
    assert!(
        out.stdout
            .contains(&format!("branch agent/c kept at {}", &c_tip[..7])),
        "{out}"
    );
    assert!(out.stdout.contains("not merged: 1 commit"), "{out}");
    assert!(!worktree(&env, "c").exists());
    assert_eq!(rev(&env, "agent/c"), c_tip);
    // --delete-branch deletes only what is merged.
    let out = env.agent(&["rm", "--force", "--delete-branch", "a"]).ok();
    assert!(out.stdout.contains("branch agent/a deleted"), "{out}");
    assert!(
        out.stderr.contains("discarded (--force): .M README.md"),
        "{out}"
    );
    // The archive has them all.
    let all = env.agent(&["list", "--all"]).ok();
    for n in ["c", "d", "e", "a"] {
        assert!(all.stdout.contains(n), "{all}");
    }
}

/// Merged by content means the same bytes: a follow-up that only re-indents (Python, YAML)
/// is work, though git's patch ids (and `git cherry`) ignore whitespace. The first commit of
/// each branch was squash-merged; `ws` then only re-indented, `cc` (the control) changed the
/// content, and `same` is merged exactly.
#[test]
fn a_follow_up_that_only_reindents_is_not_merged() {
    let env = TestEnv::new();
    let first = "write f.py def f():\\n    return 1\ncommit add f";
    env.spawn(
        &["--name", "ws", "t"],
        &format!("{first}\nwrite f.py def f():\\n  return 1\ncommit reindent f"),
    );
    env.spawn(
        &["--name", "cc", "t"],
        "write g.py def g():\\n    return 1\ncommit add g\nwrite g.py def g():\\n    return 2\ncommit change g",
    );
    env.spawn(
        &["--name", "same", "t"],
        "write h.py def h():\\n    return 1\ncommit add h",
    );
    for n in ["ws", "cc", "same"] {
        env.wait_state(n, "done");
    }
    for squashed in ["agent/ws~1", "agent/cc~1", "agent/same"] {
        env.git(&["merge", "-q", "--squash", squashed]);
        env.git(&["commit", "-q", "-m", &format!("squash {squashed}")]);
    }
    let reindented = std::fs::read_to_string(worktree(&env, "ws").join("f.py")).unwrap();
    assert_eq!(
        reindented, "def f():\n  return 1\n",
        "the script wrote what we meant"
    );

    let plan = env.agent(&["clean", "--dry-run"]).ok();
    assert!(plan.stdout.contains("  same  squash-merged"), "{plan}");
    assert!(plan.stdout.contains("  ws    not merged"), "{plan}");
    assert!(plan.stdout.contains("  cc    not merged"), "{plan}");

    let (ws_tip, cc_tip) = (rev(&env, "agent/ws"), rev(&env, "agent/cc"));
    for n in ["ws", "cc"] {
        let out = env.agent(&["rm", n, "--delete-branch"]).code(1);
        assert!(out.stderr.contains("not merged anywhere"), "{out}");
    }
    let out = env.agent(&["clean", "--yes"]).ok();
    assert!(out.stdout.contains("Removed same (squash-merged)"), "{out}");
    for n in ["ws", "cc"] {
        assert!(worktree(&env, n).exists(), "{n} must stay");
        assert!(env.has_record(n), "{n} must stay");
    }
    assert_eq!(rev(&env, "agent/ws"), ws_tip);
    assert_eq!(rev(&env, "agent/cc"), cc_tip);
    // The user's own force still works, and keeps the branch unless asked.
    let out = env.agent(&["rm", "--force", "ws"]).ok();
    assert!(out.stdout.contains("branch agent/ws kept at"), "{out}");
    assert_eq!(rev(&env, "agent/ws"), ws_tip);
}

#[test]
fn rm_deletes_a_merged_branch_when_asked_and_never_an_unmerged_one() {
    let env = TestEnv::new();
    env.spawn(&["--name", "m", "t"], "write m.txt m\ncommit m");
    env.spawn(&["--name", "u", "t"], "write u.txt u\ncommit u");
    env.wait_state("m", "done");
    env.wait_state("u", "done");
    env.git(&["merge", "-q", "--ff-only", "agent/m"]);
    let out = env.agent(&["rm", "m", "--delete-branch"]).ok();
    assert!(out.stdout.contains("branch agent/m deleted"), "{out}");
    assert!(env.git(&["branch", "--list", "agent/m"]).is_empty());
    let out = env.agent(&["rm", "u", "--delete-branch"]).code(1);
    assert!(out.stderr.contains("not merged anywhere"), "{out}");
    assert!(!env.git(&["branch", "--list", "agent/u"]).is_empty());
    // An attached branch that existed before is never deleted.
    env.git(&["branch", "mine"]);
    env.spawn(&["--name", "att", "--branch", "mine", "t"], "exit 0");
    env.wait_state("att", "done");
    let out = env.agent(&["rm", "att", "--delete-branch"]).code(128);
    assert!(out.stderr.contains("existed before"), "{out}");
    assert!(worktree(&env, "att").exists());
    env.agent(&["rm", "att"]).ok();
    assert!(!env.git(&["branch", "--list", "mine"]).is_empty());
    let out = env.agent(&["rm", "nope"]).code(128);
    assert!(out.stderr.contains("no session named 'nope'"), "{out}");
}

#[test]
fn running_and_locked_worktrees_survive_clean_all() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "busy", "t"],
        &format!("wait-for {}", env.path("go").display()),
    );
    env.spawn(&["--name", "locked", "t"], "exit 0");
    env.spawn(&["--name", "failed-empty", "t"], "exit 3");
    env.wait_state("locked", "done");
    env.wait_state("failed-empty", "failed");
    let wt = worktree(&env, "locked");
    env.git(&[
        "worktree",
        "lock",
        "--reason",
        "another tool",
        wt.to_str().unwrap(),
    ]);
    let plan = env.agent(&["clean", "--dry-run"]).ok();
    assert!(
        plan.stdout.contains("failed (look at it, or use --all)"),
        "{plan}"
    );
    let out = env.agent(&["clean", "--all", "--yes"]).ok();
    assert!(out.stdout.contains("Removed failed-empty (empty)"), "{out}");
    assert!(
        out.stdout.contains("busy") && out.stdout.contains("its agent is running"),
        "{out}"
    );
    assert!(
        out.stdout.contains("locked by someone else (another tool)"),
        "{out}"
    );
    assert!(worktree(&env, "busy").exists() && wt.exists());
    assert_eq!(env.stored_state("busy"), "running");
    env.touch("go");
    env.wait_state("busy", "done");
}

#[test]
fn rm_stops_the_agent_and_the_server_it_left_but_not_a_strangers_process() {
    let env = TestEnv::new();
    let daemon_pid = env.path("daemon.pid");
    env.spawn(
        &["--name", "srv", "t"],
        &format!(
            "spawn-daemon {}\nwait-for {}",
            daemon_pid.display(),
            env.path("never").display()
        ),
    );
    let daemon = env.read_pid(&daemon_pid);
    let wt = worktree(&env, "srv");
    // Someone else's process working in the same directory.
    #[allow(clippy::disallowed_methods)]
    let mut stranger = std::process::Command::new("sleep")
        .arg("300")
        .current_dir(&wt)
        .env_clear()
        .spawn()
        .unwrap();
    let out = env.agent(&["rm", "srv", "--grace", "2s"]).ok();
    assert!(out.stdout.contains("Removed srv"), "{out}");
    assert!(
        out.stderr
            .contains("stopped 1 process(es) its agent had left running"),
        "{out}"
    );
    assert!(
        out.stderr.contains("carries no mark of the agent's run"),
        "{out}"
    );
    env.wait_until("the daemon to go", || crate::support::process_gone(daemon));
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "the stranger's process survives"
    );
    stranger.kill().unwrap();
    let _ = stranger.wait();
    assert!(!wt.exists());
}

/// `clean NAME…` looks at those sessions only (the same rules); an unknown name is an error
/// before anything is removed.
#[test]
fn clean_named_sessions_only() {
    let env = TestEnv::new();
    for name in ["a", "b", "c"] {
        env.spawn(&["--name", name, "t"], "print nothing");
    }
    for name in ["a", "b", "c"] {
        env.wait_state(name, "done");
    }
    let out = env.agent(&["clean", "--yes", "a", "nope"]).code(128);
    assert!(
        out.stderr.contains("fatal: no session named 'nope'"),
        "{out}"
    );
    assert!(env.has_record("a"), "nothing removed on an unknown name");
    let out = env.agent(&["clean", "--yes", "--json", "a", "c"]).ok();
    let doc = out.json();
    let names: Vec<&str> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "c"], "{out}");
    assert!(!env.has_record("a") && !env.has_record("c"));
    assert!(env.has_record("b"), "b was not named");
}
