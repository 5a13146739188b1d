//! `.worktreeinclude` / `.worktreelink` never leak or destroy the user's ignored files: a file
//! is copied only if the new worktree itself ignores it, what was copied or linked in is never
//! committed by git-agent, and landing never overwrites ignored files in the target checkout.

use crate::support::TestEnv;

fn commit_all(env: &TestEnv, message: &str) {
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", message]);
}

fn rev(env: &TestEnv, spec: &str) -> String {
    env.git(&["rev-parse", spec]).trim().to_owned()
}

/// The paths in the tree of `rev`.
fn tree(env: &TestEnv, rev: &str) -> Vec<String> {
    env.git(&["ls-tree", "-r", "--name-only", rev])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn read(env: &TestEnv, rel: &str) -> String {
    std::fs::read_to_string(env.repo.join(rel)).unwrap()
}

#[test]
fn a_file_ignored_only_by_an_uncommitted_gitignore_edit_is_not_copied_nor_committed() {
    let env = TestEnv::new();
    env.write(".worktreeinclude", ".env\n");
    env.write(".gitignore", "*.log\n");
    commit_all(&env, "include .env");
    // Ignored in the main checkout only: the edit is not committed.
    env.write(".gitignore", "*.log\n.env\n");
    env.write(".env", "SECRET=1\n");

    let out = env.spawn(&["--name", "leak", "t"], "write work.txt done");
    let rec = env.wait_state("leak", "done");
    let wt = env.agents_dir().join("leak");
    assert!(!wt.join(".env").exists(), "not copied: {out}");
    assert!(
        out.stderr.contains("warning: not copied: .env")
            && out.stderr.contains("is not ignored in the new worktree"),
        "{out}"
    );
    assert_eq!(rec["commit"]["status"], "committed", "{rec}");
    let files = tree(&env, "agent/leak");
    assert!(files.contains(&"work.txt".to_owned()), "{files:?}");
    assert!(!files.contains(&".env".to_owned()), "{files:?}");
}

#[test]
fn an_older_base_whose_gitignore_does_not_ignore_the_file_gets_no_copy() {
    let env = TestEnv::new();
    env.write(".worktreeinclude", ".env\n");
    commit_all(&env, "include .env, not ignored yet");
    let old = rev(&env, "HEAD");
    env.write(".gitignore", ".env\n");
    commit_all(&env, "ignore .env");
    env.write(".env", "SECRET=1\n");

    let out = env.spawn(
        &["--name", "old", "--base", &old, "t"],
        "write work.txt done",
    );
    env.wait_state("old", "done");
    let wt = env.agents_dir().join("old");
    assert!(!wt.join(".env").exists(), "{out}");
    assert!(out.stderr.contains("warning: not copied: .env"), "{out}");
    assert!(!tree(&env, "agent/old").contains(&".env".to_owned()));

    // From the current commit, which ignores it, it is copied.
    let out = env.spawn(&["--name", "new", "t"], "print x");
    assert!(env.agents_dir().join("new/.env").is_file(), "{out}");
    assert!(out.stdout.contains("copied    .env"), "{out}");
}

#[test]
fn a_copied_file_the_agent_unignores_is_never_committed_by_git_agent() {
    let env = TestEnv::new();
    env.write(".worktreeinclude", ".env\n");
    env.write(".gitignore", ".env\n");
    commit_all(&env, "include .env");
    env.write(".env", "SECRET=1\n");

    // The agent drops the ignore rule and leaves its work uncommitted.
    env.spawn(
        &["--name", "un", "t"],
        "write .gitignore *.log\nwrite work.txt done",
    );
    let rec = env.wait_state("un", "done");
    assert_eq!(rec["commit"]["status"], "committed", "{rec}");
    let files = tree(&env, "agent/un");
    assert!(files.contains(&"work.txt".to_owned()), "{files:?}");
    assert!(!files.contains(&".env".to_owned()), "{files:?}");
    // It does not count as the agent's uncommitted work either.
    let listed = env.agent(&["list", "--full", "--json"]).ok().json();
    assert_eq!(
        listed["sessions"][0]["changes"]["uncommitted"], 0,
        "{listed}"
    );

    // Nor at merge time, nor in what lands.
    env.agent(&["merge", "un"]).ok();
    assert!(!tree(&env, "main").contains(&".env".to_owned()));
    assert_eq!(read(&env, ".env"), "SECRET=1\n");
}

#[test]
fn a_linked_ignored_directory_survives_the_merge() {
    let env = TestEnv::new();
    linked_node_modules(&env);

    let out = env.spawn(&["--name", "nm", "t"], "write feature.txt done");
    assert!(out.stdout.contains("linked    node_modules/"), "{out}");
    assert!(!out.stdout.contains("copied"), "{out}");
    env.wait_state("nm", "done");
    let wt = env.agents_dir().join("nm");
    assert!(
        std::fs::symlink_metadata(wt.join("node_modules"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!tree(&env, "agent/nm").contains(&"node_modules".to_owned()));

    let out = env.agent(&["merge", "nm"]).ok();
    assert_eq!(
        read(&env, "node_modules/leftpad/index.js"),
        "module.exports = 'pad';\n"
    );
    assert!(
        std::fs::symlink_metadata(env.repo.join("node_modules"))
            .unwrap()
            .is_dir(),
        "still a real directory"
    );
    assert_eq!(read(&env, "feature.txt"), "done\n");
    assert!(
        !tree(&env, "main")
            .iter()
            .any(|p| p.starts_with("node_modules"))
    );
    // The link is not work: the session is removed as usual after the merge.
    assert!(!wt.exists(), "{out}");
    assert!(out.stderr.contains("Removed its worktree"), "{out}");
}

/// A repository whose main checkout has a real, ignored `node_modules/` that
/// `.worktreelink` links into every session.
fn linked_node_modules(env: &TestEnv) {
    env.write(".gitignore", "node_modules/\n");
    env.write(".worktreelink", "node_modules/\n");
    commit_all(env, "link node_modules");
    env.write("node_modules/leftpad/index.js", "module.exports = 'pad';\n");
}

#[test]
fn a_link_the_agent_staged_is_not_committed_for_it() {
    let env = TestEnv::new();
    linked_node_modules(&env);
    env.spawn(
        &["--name", "st", "t"],
        "git-add node_modules\nwrite feature.txt done",
    );
    let rec = env.wait_state("st", "done");
    assert_eq!(rec["commit"]["status"], "committed", "{rec}");
    assert_eq!(rec["linked"][0], "node_modules/", "{rec}");
    let files = tree(&env, "agent/st");
    assert!(files.contains(&"feature.txt".to_owned()), "{files:?}");
    assert!(!files.contains(&"node_modules".to_owned()), "{files:?}");
}

#[test]
fn a_link_the_agent_committed_itself_never_replaces_the_users_directory() {
    let env = TestEnv::new();
    linked_node_modules(&env);
    // `git add -A && git commit` by the agent takes the symlink along.
    env.spawn(
        &["--name", "ac", "t"],
        "write feature.txt done\ncommit work",
    );
    env.wait_state("ac", "done");
    assert!(tree(&env, "agent/ac").contains(&"node_modules".to_owned()));
    let before = rev(&env, "main");
    let out = env.agent(&["merge", "ac"]).code(1);
    assert!(
        out.stderr.contains("would overwrite ignored files")
            && out.stderr.contains("  node_modules/"),
        "{out}"
    );
    assert_eq!(rev(&env, "main"), before);
    assert_eq!(
        read(&env, "node_modules/leftpad/index.js"),
        "module.exports = 'pad';\n"
    );
    let out = env.agent(&["merge", "ac", "--apply"]).code(1);
    assert!(out.stderr.contains("    node_modules/"), "{out}");
    assert_eq!(
        read(&env, "node_modules/leftpad/index.js"),
        "module.exports = 'pad';\n"
    );
}

/// An agent that drops `.env` from `.gitignore` and commits its own `.env`.
fn agent_commits_an_env_file(env: &TestEnv, name: &str) {
    env.write(".gitignore", ".env\n");
    commit_all(env, "ignore .env");
    env.write(".env", "SECRET=mine\n");
    env.spawn(
        &["--name", name, "t"],
        "write .gitignore *.log\nwrite .env AGENT=1\ncommit mine now",
    );
    env.wait_state(name, "done");
    assert!(tree(env, &format!("agent/{name}")).contains(&".env".to_owned()));
}

#[test]
fn landing_refuses_to_overwrite_ignored_files_in_the_target_checkout() {
    let env = TestEnv::new();
    agent_commits_an_env_file(&env, "ow");
    let before = rev(&env, "main");
    for strategy in ["--squash", "--ff-only", "--rebase", "--merge"] {
        let out = env.agent(&["merge", "ow", strategy]).code(1);
        assert!(
            out.stderr.contains("fatal: ")
                && out.stderr.contains("ignored files there")
                && out.stderr.contains("  .env")
                && out.stderr.contains("hint: "),
            "{strategy}: {out}"
        );
        assert_eq!(read(&env, ".env"), "SECRET=mine\n", "{strategy}");
        assert_eq!(rev(&env, "main"), before, "{strategy}");
    }
    let out = env.agent(&["merge", "ow", "--dry-run"]).code(1);
    assert!(out.stderr.contains("  .env"), "{out}");

    // Moved aside, the merge goes through.
    std::fs::rename(env.repo.join(".env"), env.root().join("env.saved")).unwrap();
    env.agent(&["merge", "ow"]).ok();
    assert_eq!(read(&env, ".env"), "AGENT=1\n");
}

#[test]
fn apply_refuses_to_overwrite_ignored_files_and_names_them() {
    let env = TestEnv::new();
    agent_commits_an_env_file(&env, "ap");
    let out = env.agent(&["merge", "ap", "--apply"]).code(1);
    assert!(
        out.stderr.contains("ignored files") && out.stderr.contains("    .env"),
        "{out}"
    );
    assert_eq!(read(&env, ".env"), "SECRET=mine\n");
    assert_eq!(read(&env, ".gitignore"), ".env\n", "nothing applied");
}
