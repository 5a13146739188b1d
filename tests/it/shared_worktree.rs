//! `git agent new --in NAME`: another session in NAME's worktree and on NAME's branch (issue
//! 18's third workflow). The state rules: what is created (nothing), what is refused, what
//! `rm` leaves while another session still uses the worktree, and who auto-commits.

use crate::support::TestEnv;

/// An owner `a` whose agent waits for `release-a`, in its own worktree.
fn with_owner() -> TestEnv {
    let env = TestEnv::new();
    let release = env.path("release-a");
    env.spawn(
        &["--name", "a", "plan it"],
        &format!("wait-for {}\n", release.display()),
    );
    env.wait_state("a", "running");
    env
}

#[test]
fn in_shares_the_worktree_and_branch_and_creates_neither() {
    let env = with_owner();
    let branches_before = env.git(&["branch", "--list"]);
    // Without HEAD: what b commits is for the auto-commit tests.
    let worktrees = || {
        let list = env.git(&["worktree", "list", "--porcelain"]);
        list.lines()
            .filter(|l| !l.starts_with("HEAD "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let worktrees_before = worktrees();
    let out = env.spawn(
        &["--in", "a", "--name", "b", "implement it"],
        "write b.txt from b\n",
    );
    assert!(
        out.stderr
            .lines()
            .filter(|l| l.starts_with("note: b and a share the checkout at "))
            .count()
            == 1,
        "told once that they share a checkout: {out}"
    );
    env.wait_state("b", "done");
    let (a, b) = (env.record("a"), env.record("b"));
    assert_eq!(b["shares"], "a");
    assert_eq!(b["worktree"], a["worktree"]);
    assert_eq!(b["branch"], a["branch"]);
    assert_eq!(b["branch_created"], false);
    assert!(b.get("setup").is_none(), "no setup hook: {b}");
    assert_eq!(b["worktree_id"], a["worktree_id"]);
    assert!(a.get("shares").is_none());
    assert_eq!(env.git(&["branch", "--list"]), branches_before);
    assert_eq!(
        worktrees(),
        worktrees_before,
        "no worktree made, and ending b left a's lock on it"
    );
    let wt = std::path::PathBuf::from(a["worktree"].as_str().unwrap());
    assert!(wt.join("b.txt").exists(), "b ran in a's worktree");
    env.touch("release-a");
    env.wait_state("a", "done");
}

#[test]
fn in_read_only_says_nothing_about_sharing() {
    let mut env = with_owner();
    env.install_fake("claude");
    let script = env.script("ro", "say looked\n");
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    let out = env
        .agent(&[
            "new",
            "--in",
            "a",
            "--read-only",
            "--agent",
            "claude",
            "--name",
            "ro",
            "look",
        ])
        .ok();
    assert!(!out.stderr.contains("share the checkout"), "{out}");
    env.wait_state("ro", "done");
    assert_eq!(env.record("ro")["shares"], "a");
    env.touch("release-a");
    env.wait_state("a", "done");
}

#[test]
fn in_refuses_what_would_make_or_move_a_worktree_or_branch() {
    let env = with_owner();
    let fake = env.fake("x", "exit 0\n");
    let fake: Vec<&str> = fake.iter().map(String::as_str).collect();
    env.install_fake("claude");
    env.install_fake("codex");
    // Flags that cannot go together are usage errors; the rest are fatal.
    let cases: &[(&[&str], &str, i32)] = &[
        (&["--in", "nope"], "no session named 'nope'", 128),
        (&["--in", "a", "--take-changes"], "--take-changes", 2),
        (&["--in", "a", "--branch", "other"], "--branch", 2),
        (&["--in", "a", "--base", "HEAD"], "--base", 2),
        (&["--in", "a", "-n", "2"], "one session", 2),
        (&["--in", "a", "--agent", "claude,codex"], "one session", 2),
        (&["--in", "a", "--runner", "docker"], "runner", 128),
    ];
    let branches_before = env.git(&["branch", "--list"]);
    for (flags, says, code) in cases {
        let mut args = vec!["new", "--name", "x"];
        args.extend_from_slice(flags);
        args.push("task");
        if !flags.contains(&"--agent") {
            args.extend_from_slice(&fake);
        }
        let out = env.agent(&args).code(*code);
        let prefix = if *code == 2 { "error: " } else { "fatal: " };
        assert!(
            out.stderr.starts_with(prefix) && out.stderr.contains(says),
            "{flags:?}: {out}"
        );
        assert!(out.stderr.contains("\nhint: "), "{flags:?}: {out}");
        assert!(!env.has_record("x"), "{flags:?}: nothing created");
    }
    assert_eq!(env.git(&["branch", "--list"]), branches_before);
    env.touch("release-a");
    env.wait_state("a", "done");
}

#[test]
fn in_refuses_a_session_whose_worktree_is_gone() {
    let env = TestEnv::new();
    env.spawn(&["--name", "a", "plan it"], "exit 0\n");
    env.wait_state("a", "done");
    let wt = env.record("a")["worktree"].as_str().unwrap().to_owned();
    std::fs::remove_dir_all(&wt).unwrap();
    let fake = env.fake("x", "exit 0\n");
    let mut args = vec!["new", "--in", "a", "--name", "x", "task"];
    args.extend(fake.iter().map(String::as_str));
    let out = env.agent(&args).code(128);
    assert!(out.stderr.contains("the worktree of 'a' is gone"), "{out}");
    assert!(!env.has_record("x"));
}

/// `b` in `a`'s worktree, waiting for `release-b`.
fn with_sharer(env: &TestEnv) -> std::path::PathBuf {
    let release = env.path("release-b");
    env.spawn(
        &["--in", "a", "--name", "b", "implement it"],
        &format!("write wip.txt half-done\nwait-for {}\n", release.display()),
    );
    env.wait_state("b", "running");
    std::path::PathBuf::from(env.record("a")["worktree"].as_str().unwrap())
}

#[test]
fn rm_of_the_owner_while_another_runs_leaves_worktree_and_branch() {
    let env = with_owner();
    let wt = with_sharer(&env);
    env.wait_until("b to write", || wt.join("wip.txt").exists());
    let tip = env.git(&["rev-parse", "agent/a"]);
    // Even forced, and with the branch asked for: b still works there.
    let out = env.agent(&["rm", "--force", "--delete-branch", "a"]).ok();
    assert!(
        out.stdout.contains("left alone ('b' still uses it)"),
        "{out}"
    );
    assert!(!env.has_record("a"), "a's record is archived");
    assert!(wt.join("wip.txt").exists(), "b's work is untouched");
    assert_eq!(env.git(&["rev-parse", "agent/a"]), tip, "the branch stays");
    assert_eq!(env.stored_state("b"), "running");
    assert!(
        env.git(&["worktree", "list"])
            .contains(&*wt.to_string_lossy()),
        "still registered"
    );
    // The last one takes the worktree with it, as today.
    env.touch("release-b");
    let b = env.wait_state("b", "done");
    assert_eq!(
        b["commit"]["status"], "committed",
        "the last one to end commits: {b}"
    );
    // As today: unmerged work is refused without --force.
    env.agent(&["rm", "b"]).code(1);
    let out = env.agent(&["rm", "--force", "b"]).ok();
    assert!(out.stdout.contains("removed"), "{out}");
    assert!(!wt.exists(), "the last session's rm removes the worktree");
    assert!(
        env.git(&["branch", "--list", "agent/a"])
            .contains("agent/a"),
        "b did not create the branch: it stays"
    );
}

#[test]
fn rm_of_the_sharer_while_the_owner_runs_leaves_the_owners_worktree_and_lock() {
    let env = with_owner();
    let wt = with_sharer(&env);
    let out = env.agent(&["rm", "--force", "b"]).ok();
    assert!(
        out.stdout.contains("left alone ('a' still uses it)"),
        "{out}"
    );
    assert!(wt.is_dir());
    assert_eq!(env.stored_state("a"), "running");
    let list = env.git(&["worktree", "list", "--porcelain"]);
    assert!(
        list.contains("locked git-agent: agent 'a' is running"),
        "a's lock stays: {list}"
    );
    env.touch("release-a");
    env.wait_state("a", "done");
}

#[test]
fn clean_of_a_merged_branch_two_sessions_share_removes_both_and_the_worktree_once() {
    let env = TestEnv::new();
    env.spawn(&["--name", "a", "plan it"], "write a.txt a\ncommit a\n");
    env.wait_state("a", "done");
    env.spawn(
        &["--in", "a", "--name", "b", "more"],
        "write b.txt b\ncommit b\n",
    );
    env.wait_state("b", "done");
    let wt = std::path::PathBuf::from(env.record("a")["worktree"].as_str().unwrap());
    env.git(&["merge", "-q", "--no-ff", "-m", "land", "agent/a"]);
    let out = env.agent(&["clean", "--yes"]).ok();
    assert!(out.stdout.contains("Removed a"), "{out}");
    assert!(out.stdout.contains("Removed b"), "{out}");
    assert!(!env.has_record("a") && !env.has_record("b"));
    assert!(!wt.exists(), "{out}");
}

#[test]
fn auto_commit_defers_to_a_session_still_running_in_the_worktree() {
    let env = with_owner();
    let tip = env.git(&["rev-parse", "agent/a"]);
    env.spawn(
        &["--in", "a", "--name", "b", "implement it"],
        "write b.txt from b\n",
    );
    let b = env.wait_state("b", "done");
    assert_eq!(b["commit"]["status"], "skipped", "{b}");
    assert_eq!(
        b["commit"]["reason"],
        "deferred: a still runs in this worktree"
    );
    assert_eq!(env.git(&["rev-parse", "agent/a"]), tip, "nothing committed");
    let wt = std::path::PathBuf::from(b["worktree"].as_str().unwrap());
    assert!(wt.join("b.txt").exists());
    // The last to end commits what both left.
    env.touch("release-a");
    let a = env.wait_state("a", "done");
    assert_eq!(a["commit"]["status"], "committed", "{a}");
    assert_ne!(env.git(&["rev-parse", "agent/a"]), tip);
    assert_eq!(
        env.git_in(&wt, &["status", "--porcelain"]),
        "",
        "b's file is in a's commit"
    );
}

fn lock_line(env: &TestEnv) -> Option<String> {
    env.git(&["worktree", "list", "--porcelain"])
        .lines()
        .find(|l| l.starts_with("locked"))
        .map(str::to_owned)
}

#[test]
fn the_worktree_lock_passes_to_the_session_still_running_and_goes_with_the_last() {
    let env = with_owner();
    with_sharer(&env);
    assert_eq!(
        lock_line(&env).as_deref(),
        Some("locked git-agent: agent 'a' is running")
    );
    // a ends while b runs: the checkout stays locked, now under b's name.
    env.touch("release-a");
    env.wait_state("a", "done");
    assert_eq!(
        lock_line(&env).as_deref(),
        Some("locked git-agent: agent 'b' is running")
    );
    assert_eq!(env.record("b")["worktree_locked"], true);
    env.touch("release-b");
    env.wait_state("b", "done");
    assert_eq!(lock_line(&env), None, "the last one's end unlocks it");
    assert_eq!(env.record("b")["worktree_locked"], false);
}

#[test]
fn a_session_in_an_idle_worktree_locks_it_while_it_runs() {
    let env = TestEnv::new();
    env.spawn(&["--name", "a", "plan it"], "exit 0\n");
    env.wait_state("a", "done");
    assert_eq!(lock_line(&env), None);
    let release = env.path("release-b");
    env.spawn(
        &["--in", "a", "--name", "b", "implement it"],
        &format!("wait-for {}\n", release.display()),
    );
    env.wait_state("b", "running");
    assert_eq!(
        lock_line(&env).as_deref(),
        Some("locked git-agent: agent 'b' is running")
    );
    env.touch("release-b");
    env.wait_state("b", "done");
    assert_eq!(lock_line(&env), None);
}

#[test]
fn list_shows_the_sessions_of_one_worktree_together() {
    let env = TestEnv::new();
    env.spawn(&["--name", "a", "plan it"], "exit 0\n");
    env.wait_state("a", "done");
    env.spawn(&["--name", "c", "other"], "exit 0\n");
    env.wait_state("c", "done");
    env.spawn(&["--in", "a", "--name", "b", "implement it"], "exit 0\n");
    env.wait_state("b", "done");
    let list = env.agent(&["list", "--json"]).ok().json();
    let names: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let a = names.iter().position(|n| *n == "a").unwrap();
    assert_eq!(names.get(a + 1), Some(&"b"), "{names:?}");
    let b = &list["sessions"][a + 1];
    assert_eq!(b["shares"], "a");
    let human = env.agent(&["list"]).ok();
    let order: Vec<&str> = human
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| ["a", "b", "c"].contains(n))
        .collect();
    let a = order.iter().position(|n| *n == "a").unwrap();
    assert_eq!(order.get(a + 1), Some(&"b"), "{human}");
    // Two records in one worktree are not a problem for doctor.
    env.agent(&["doctor"]).ok();
}

#[test]
fn in_a_sharer_whose_owner_was_removed_joins_the_same_worktree() {
    let env = TestEnv::new();
    env.spawn(&["--name", "a", "plan it"], "write a.txt a\ncommit a\n");
    env.wait_state("a", "done");
    env.spawn(&["--in", "a", "--name", "b", "more"], "exit 0\n");
    env.wait_state("b", "done");
    let wt = env.record("a")["worktree"].as_str().unwrap().to_owned();
    env.agent(&["rm", "--force", "a"]).ok();
    env.spawn(
        &["--in", "b", "--name", "c", "again"],
        "write c.txt c\ncommit c\n",
    );
    let c = env.wait_state("c", "done");
    assert_eq!(c["worktree"], wt.as_str());
    assert_eq!(c["shares"], "a", "the worktree's maker");
    assert_eq!(c["exit"]["code"], 0, "it may commit on the branch: {c}");
    // b and c remain; removing them takes the worktree with the last.
    env.agent(&["rm", "--force", "b"]).ok();
    assert!(std::path::Path::new(&wt).is_dir());
    env.agent(&["rm", "--force", "c"]).ok();
    assert!(!std::path::Path::new(&wt).exists());
}

/// `a` and `b --in a`, both done, each with a commit on the shared branch.
fn two_done() -> TestEnv {
    let env = TestEnv::new();
    env.spawn(&["--name", "a", "plan it"], "write a.txt a\ncommit a\n");
    env.wait_state("a", "done");
    env.spawn(
        &["--in", "a", "--name", "b", "more"],
        "write b.txt b\ncommit b\n",
    );
    env.wait_state("b", "done");
    env
}

fn commits_on_main(env: &TestEnv) -> usize {
    env.git(&["rev-list", "--count", "main"])
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn merge_of_one_sharer_lands_the_branch_once_and_marks_every_sharer_merged() {
    let env = two_done();
    let before = commits_on_main(&env);
    let wt = std::path::PathBuf::from(env.record("a")["worktree"].as_str().unwrap());
    let out = env.agent(&["merge", "a"]).ok();
    assert_eq!(
        commits_on_main(&env),
        before + 1,
        "one squash commit: {out}"
    );
    assert!(
        env.git(&["show", "main:b.txt"]).contains('b'),
        "b's work landed too"
    );
    let b = env.record("b");
    assert_eq!(b["merged"]["into"], "main", "b is merged with a: {b}");
    assert_eq!(env.stored_state("b"), "done");
    assert!(wt.is_dir(), "b still uses the worktree: {out}");
    assert!(
        out.stderr.contains("left alone ('b' still uses it)")
            && !out.stderr.contains("Removed its worktree"),
        "{out}"
    );
    let list = env.agent(&["list", "--json"]).ok().json();
    let b_listed = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "b")
        .cloned()
        .unwrap();
    assert_eq!(b_listed["state"], "merged", "{b_listed}");
    // Merging b now lands nothing again, even once main moved on over b's file (a squash
    // of the branch again would conflict with that).
    env.write("b.txt", "b, edited on main\n");
    env.git(&["commit", "-q", "-am", "edit b.txt on main"]);
    let main = env.git(&["rev-parse", "main"]);
    let out = env.agent(&["merge", "b"]).ok();
    assert!(out.stderr.contains("already in main"), "{out}");
    assert_eq!(
        env.git(&["rev-parse", "main"]),
        main,
        "nothing merged twice"
    );
    assert!(!env.has_record("b"));
    assert!(!wt.exists(), "the last one's removal takes the worktree");
}

#[test]
fn clean_after_merging_one_sharer_removes_the_other() {
    let env = two_done();
    env.agent(&["merge", "a"]).ok();
    let out = env.agent(&["clean", "--yes"]).ok();
    assert!(out.stdout.contains("Removed b"), "{out}");
    assert!(!env.has_record("b"));
}

#[test]
fn merge_queue_of_two_sharers_lands_the_branch_once() {
    let env = two_done();
    let before = commits_on_main(&env);
    let out = env.agent(&["merge", "a", "b"]).ok();
    assert_eq!(commits_on_main(&env), before + 1, "{out}");
    assert!(!env.has_record("a") && !env.has_record("b"), "{out}");
}

#[test]
fn merge_refuses_while_another_session_runs_in_the_worktree() {
    let env = TestEnv::new();
    env.spawn(&["--name", "a", "plan it"], "write a.txt a\ncommit a\n");
    env.wait_state("a", "done");
    let wt = with_sharer(&env);
    env.wait_until("b to write", || wt.join("wip.txt").exists());
    let main = env.git(&["rev-parse", "main"]);
    let tip = env.git(&["rev-parse", "agent/a"]);
    let out = env.agent(&["merge", "a"]).code(128);
    assert!(
        out.stderr.contains("the agent of 'b' is still running"),
        "{out}"
    );
    assert!(out.stderr.contains("\nhint: "), "{out}");
    assert_eq!(env.git(&["rev-parse", "main"]), main);
    assert_eq!(
        env.git(&["rev-parse", "agent/a"]),
        tip,
        "b's half-done work is not committed"
    );
    assert!(env.has_record("a"));
    // The same for the other commands that take a session's work.
    for verb in [&["sync", "a"][..], &["merge", "--apply", "a"][..]] {
        let out = env.agent(verb).code(128);
        assert!(
            out.stderr.contains("the agent of 'b' is still running"),
            "{verb:?}: {out}"
        );
    }
    // The queue counts it too, though it is not listed.
    env.spawn(&["--name", "c", "other"], "write c.txt c\ncommit c\n");
    env.wait_state("c", "done");
    let out = env.agent(&["merge", "c", "a"]).code(128);
    assert!(out.stderr.contains("still running: b"), "{out}");
    assert_eq!(env.git(&["rev-parse", "main"]), main, "nothing landed");
    env.touch("release-b");
    env.wait_state("b", "done");
    env.agent(&["merge", "a"]).ok();
}

#[test]
fn auto_commit_defers_to_a_session_queued_to_run_in_the_worktree() {
    let env = with_owner();
    let tip = env.git(&["rev-parse", "agent/a"]);
    let wt = std::path::PathBuf::from(env.record("a")["worktree"].as_str().unwrap());
    std::fs::write(wt.join("a.txt"), "from a\n").unwrap();
    // One agent at a time: b waits its turn behind a.
    let out = env.spawn(
        &["--in", "a", "--max-parallel", "1", "--name", "b", "next"],
        "write b.txt from b\n",
    );
    assert!(out.stdout.contains("Queued b"), "{out}");
    assert_eq!(env.stored_state("b"), "queued");
    env.touch("release-a");
    let a = env.wait_state("a", "done");
    assert_eq!(a["commit"]["status"], "skipped", "{a}");
    assert_eq!(
        a["commit"]["reason"],
        "deferred: b still runs in this worktree"
    );
    let b = env.wait_state("b", "done");
    assert_eq!(
        b["commit"]["status"], "committed",
        "the last one commits: {b}"
    );
    assert_ne!(env.git(&["rev-parse", "agent/a"]), tip);
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
}

#[test]
fn rm_delete_branch_of_the_last_sharer_deletes_the_branch_git_agent_made() {
    let env = two_done();
    env.agent(&["rm", "--force", "a"]).ok();
    assert!(
        env.git(&["branch", "--list", "agent/a"])
            .contains("agent/a")
    );
    // As for a session's own branch: unmerged work is refused without --force.
    let out = env.agent(&["rm", "--delete-branch", "b"]).code(1);
    assert!(env.has_record("b"), "{out}");
    env.git(&["merge", "-q", "--no-ff", "-m", "land", "agent/a"]);
    let out = env.agent(&["rm", "--delete-branch", "b"]).ok();
    assert!(!env.has_record("b"), "{out}");
    assert_eq!(env.git(&["branch", "--list", "agent/a"]), "", "{out}");
}

#[test]
fn rm_delete_branch_of_a_sharer_on_a_users_branch_is_refused() {
    let env = TestEnv::new();
    env.git(&["branch", "mine"]);
    env.spawn(&["--branch", "mine", "--name", "a", "plan it"], "exit 0\n");
    env.wait_state("a", "done");
    env.spawn(&["--in", "a", "--name", "b", "more"], "exit 0\n");
    env.wait_state("b", "done");
    env.agent(&["rm", "--force", "a"]).ok();
    let out = env
        .agent(&["rm", "--force", "--delete-branch", "b"])
        .code(128);
    assert!(out.stderr.contains("mine existed before"), "{out}");
    assert!(env.git(&["branch", "--list", "mine"]).contains("mine"));
}

#[test]
fn rm_delete_branch_of_a_sharer_while_another_remains_keeps_the_branch() {
    let env = two_done();
    let tip = env.git(&["rev-parse", "agent/a"]);
    let out = env.agent(&["rm", "--force", "--delete-branch", "b"]).ok();
    assert!(
        out.stdout.contains("left alone ('a' still uses it)"),
        "{out}"
    );
    assert_eq!(env.git(&["rev-parse", "agent/a"]), tip, "a is still on it");
    assert!(env.has_record("a"));
}

#[test]
fn a_read_only_session_in_a_shared_worktree_cannot_write_it_while_its_maker_can() {
    let mut env = TestEnv::new();
    let release = env.path("release-a");
    env.spawn(
        &["--name", "a", "plan it"],
        &format!("wait-for {}\ntry-write a.txt from a\n", release.display()),
    );
    env.wait_state("a", "running");
    let wt = std::path::PathBuf::from(env.record("a")["worktree"].as_str().unwrap());
    env.install_fake("claude");
    let script = env.script(
        "ro",
        "try-write ro.txt from ro\ntry-write $TMPDIR/scratch.txt scratch\nsay looked\n",
    );
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&[
        "new",
        "--in",
        "a",
        "--read-only",
        "--agent",
        "claude",
        "--name",
        "ro",
        "look",
    ])
    .ok();
    let ro = env.wait_state("ro", "done");
    env.touch("release-a");
    env.wait_state("a", "done");
    if ro["sandbox"]["in_force"]["kind"] == "none" {
        eprintln!("skipped: this kernel has no Landlock");
        return;
    }
    assert_eq!(ro["sandbox"]["in_force"]["kind"], "landlock", "{ro}");
    assert_eq!(ro["agent"]["read_only"], true, "{ro}");
    let log = env.agent(&["logs", "ro", "--raw"]).ok().stdout;
    assert!(
        log.contains(&format!(
            "denied {}: Permission denied",
            wt.join("ro.txt").display()
        )) || log.contains("denied ro.txt: Permission denied"),
        "{log}"
    );
    assert!(!wt.join("ro.txt").exists());
    assert!(
        log.lines()
            .any(|l| l.contains("wrote /") && l.contains("/scratch.txt")),
        "its TMPDIR stays writable: {log}"
    );
    let writable = ro["sandbox"]["in_force"]["writable"].as_array().unwrap();
    let wt_real = wt.canonicalize().unwrap();
    assert!(
        !writable.iter().any(|p| p.as_str() == wt_real.to_str()),
        "{ro}"
    );
    let log = env.agent(&["logs", "a", "--raw"]).ok().stdout;
    assert!(log.contains("wrote a.txt"), "a may write: {log}");
    assert!(wt.join("a.txt").exists());
}

#[test]
fn a_read_only_session_that_ends_last_commits_what_the_other_left() {
    let mut env = TestEnv::new();
    let release_a = env.path("release-a");
    env.spawn(
        &["--name", "a", "plan it"],
        &format!("write a.txt from a\nwait-for {}\n", release_a.display()),
    );
    env.wait_state("a", "running");
    let tip = env.git(&["rev-parse", "agent/a"]);
    env.install_fake("claude");
    let release_ro = env.path("release-ro");
    let script = env.script(
        "ro",
        &format!("wait-for {}\nsay looked\n", release_ro.display()),
    );
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&[
        "new",
        "--in",
        "a",
        "--read-only",
        "--agent",
        "claude",
        "--name",
        "ro",
        "look",
    ])
    .ok();
    env.wait_state("ro", "running");
    env.touch("release-a");
    let a = env.wait_state("a", "done");
    assert_eq!(
        a["commit"]["reason"], "deferred: ro still runs in this worktree",
        "{a}"
    );
    env.touch("release-ro");
    let ro = env.wait_state("ro", "done");
    assert_eq!(ro["commit"]["status"], "committed", "{ro}");
    assert_ne!(env.git(&["rev-parse", "agent/a"]), tip);
}

#[test]
fn rm_dry_run_of_a_sharer_says_the_worktree_and_branch_stay() {
    let env = two_done();
    for name in ["a", "b"] {
        let out = env
            .agent(&["rm", "--dry-run", "--delete-branch", name])
            .ok();
        assert!(
            out.stdout.contains(&format!("Would remove {name}:")),
            "{out}"
        );
        assert!(out.stdout.contains("still uses it"), "{out}");
        assert!(!out.stdout.contains("delete the branch"), "{out}");
        assert!(!out.stdout.contains("remove the worktree"), "{out}");
    }
    assert!(env.has_record("a") && env.has_record("b"));
}

#[test]
fn rm_of_a_queued_sharer_is_not_refused_for_the_running_owners_work() {
    let env = with_owner();
    let wt = std::path::PathBuf::from(env.record("a")["worktree"].as_str().unwrap());
    std::fs::write(wt.join("a-wip.txt"), "half done\n").unwrap();
    env.spawn(
        &["--in", "a", "--max-parallel", "1", "--name", "b", "next"],
        "exit 0\n",
    );
    assert_eq!(env.stored_state("b"), "queued");
    let out = env.agent(&["rm", "b"]).ok();
    assert!(
        out.stdout.contains("left alone ('a' still uses it)"),
        "{out}"
    );
    assert!(!env.has_record("b"));
    assert!(wt.join("a-wip.txt").exists());
    env.touch("release-a");
    env.wait_state("a", "done");
}
