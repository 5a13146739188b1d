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
    let cases: &[(&[&str], &str)] = &[
        (&["--in", "nope"], "no session named 'nope'"),
        (&["--in", "a", "--take-changes"], "--take-changes"),
        (&["--in", "a", "--branch", "other"], "--branch"),
        (&["--in", "a", "--base", "HEAD"], "--base"),
        (&["--in", "a", "-n", "2"], "one session"),
        (&["--in", "a", "--runner", "docker"], "runner"),
    ];
    let branches_before = env.git(&["branch", "--list"]);
    for (flags, says) in cases {
        let mut args = vec!["new", "--name", "x"];
        args.extend_from_slice(flags);
        args.push("task");
        args.extend_from_slice(&fake);
        let out = env.agent(&args).code(128);
        assert!(
            out.stderr.starts_with("fatal: ") && out.stderr.contains(says),
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
