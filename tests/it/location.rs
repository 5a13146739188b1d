//! Works the same from anywhere: subdirectories, linked worktrees, `git -C`, `GIT_DIR`.

use crate::support::TestEnv;

#[test]
fn from_a_subdirectory_and_with_git_dash_c() {
    let env = TestEnv::new();
    env.write("src/lib/x.txt", "x\n");
    env.git(&["add", "."]);
    env.git(&["commit", "-q", "-m", "src"]);
    let sub = env.repo.join("src/lib");
    let script = env.script("sub", "print ok");
    env.agent_in(
        &sub,
        &[
            "new",
            "--name",
            "fromsub",
            "t",
            "--",
            "fake-agent",
            "--script",
            script.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(env.state_dir().join("sessions/fromsub.json").exists());
    assert!(
        env.agents_dir().join("fromsub").is_dir(),
        "worktrees go next to the main worktree"
    );

    let mut cmd = env.command("git", &env.root());
    cmd.args(["-C", env.repo.to_str().unwrap(), "agent", "list", "--json"]);
    let json = env.run(cmd).ok().json();
    assert_eq!(json["sessions"][0]["name"], "fromsub");

    let mut cmd = env.command("git", &env.root());
    cmd.args([
        "--git-dir",
        env.repo.join(".git").to_str().unwrap(),
        "agent",
        "show",
        "fromsub",
    ]);
    env.run(cmd).ok();

    let mut cmd = env.command(env.bin.join("git-agent"), &env.root());
    cmd.env("GIT_DIR", env.repo.join(".git"))
        .args(["list", "--json"]);
    assert_eq!(env.run(cmd).ok().json()["sessions"][0]["name"], "fromsub");
}

#[test]
fn from_a_linked_worktree_state_is_shared_and_base_is_that_worktree() {
    let env = TestEnv::new();
    let side = env.root().join("side");
    env.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "feature",
        side.to_str().unwrap(),
    ]);
    std::fs::write(side.join("feature.txt"), "f\n").unwrap();
    env.git_in(&side, &["add", "."]);
    env.git_in(&side, &["commit", "-q", "-m", "feature work"]);

    let script = env.script("lw", "print ok");
    env.agent_in(
        &side,
        &[
            "new",
            "--name",
            "fromside",
            "t",
            "--",
            "fake-agent",
            "--script",
            script.to_str().unwrap(),
        ],
    )
    .ok();
    let record = env.record("fromside");
    assert_eq!(record["base"]["ref"], "refs/heads/feature");
    assert_eq!(
        record["base"]["commit"],
        env.git_in(&side, &["rev-parse", "HEAD"]).trim()
    );
    assert_eq!(record["repo"], env.repo.to_str().unwrap());
    assert_eq!(
        record["worktree"],
        env.agents_dir().join("fromside").to_str().unwrap(),
        "never nested"
    );
    // The same state is seen from the main worktree and from the agent's own worktree.
    assert_eq!(
        env.agent(&["list", "--json"]).ok().json()["sessions"][0]["name"],
        "fromside"
    );
    let from_agent_wt = env
        .agent_in(&env.agents_dir().join("fromside"), &["list", "--json"])
        .ok()
        .json();
    assert_eq!(from_agent_wt["sessions"][0]["name"], "fromside");
}

#[test]
fn base_can_be_a_branch_or_a_commit() {
    let env = TestEnv::new();
    let first = env.git(&["rev-parse", "HEAD"]).trim().to_owned();
    env.write("two.txt", "2\n");
    env.git(&["add", "."]);
    env.git(&["commit", "-q", "-m", "two"]);
    env.git(&["branch", "old", &first]);
    env.spawn(&["--name", "onbranch", "--base", "old", "t"], "print x");
    let r = env.record("onbranch");
    assert_eq!(r["base"]["ref"], "refs/heads/old");
    assert_eq!(r["base"]["commit"], first.as_str());
    env.spawn(&["--name", "oncommit", "--base", "HEAD~1", "t"], "print x");
    let r = env.record("oncommit");
    assert!(r["base"]["ref"].is_null());
    assert_eq!(r["base"]["commit"], first.as_str());
    let wt = env.agents_dir().join("oncommit");
    assert!(!wt.join("two.txt").exists());
    // Detached HEAD: base is the commit, no ref.
    env.git(&["checkout", "-q", "--detach", "HEAD"]);
    env.spawn(&["--name", "detached", "t"], "print x");
    assert!(env.record("detached")["base"]["ref"].is_null());
}

#[test]
fn worktree_dir_config_and_in_repo_location() {
    let env = TestEnv::new();
    env.git(&["config", "agent.worktreeDir", ".agents"]);
    let out = env.spawn(&["--name", "inside", "t"], "print x");
    assert!(env.repo.join(".agents/inside").is_dir());
    assert!(
        out.stderr
            .contains("warning: agent worktrees are inside the repository"),
        "{out}"
    );
    let exclude = std::fs::read_to_string(env.repo.join(".git/info/exclude")).unwrap();
    assert!(exclude.lines().any(|l| l == "/.agents/"), "{exclude}");
    assert_eq!(
        env.git(&["status", "--porcelain"]),
        "",
        "the main checkout stays clean"
    );
}
