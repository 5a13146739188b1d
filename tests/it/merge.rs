//! `git agent merge`, `conflicts` and `sync`: predictions identical to git's, each strategy
//! landing the right tree and history, the target's checkout moved safely, the merge queue,
//! syncing without stash, `--apply`, `--pr`, and picking a winner.

use std::path::PathBuf;

use crate::support::{TestEnv, normalize};

fn commit_all(env: &TestEnv, message: &str) {
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", message]);
}

/// A session whose agent runs `script` and ends `done`.
fn session(env: &TestEnv, name: &str, script: &str) {
    env.spawn(&["--name", name, &format!("task of {name}")], script);
    env.wait_state(name, "done");
}

fn rev(env: &TestEnv, spec: &str) -> String {
    env.git(&["rev-parse", spec]).trim().to_owned()
}

fn worktree(env: &TestEnv, name: &str) -> PathBuf {
    env.agents_dir().join(name)
}

/// Object count of the repository (loose and packed).
fn objects(env: &TestEnv) -> String {
    env.git(&["count-objects", "-v"])
        .lines()
        .filter(|l| l.starts_with("count:") || l.starts_with("in-pack:"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A branch made by hand from main: `edits` are (path, Some(content)) or (path, None) to
/// delete, or ("mv a", Some("b")) to rename.
fn branch(env: &TestEnv, name: &str, edits: &[(&str, Option<&str>)]) {
    env.git(&["switch", "-q", "-c", name, "main"]);
    for (path, content) in edits {
        if let Some(from) = path.strip_prefix("mv ") {
            env.git(&["mv", from, content.unwrap()]);
            continue;
        }
        match content {
            Some(c) => env.write(path, c),
            None => {
                env.git(&["rm", "-q", path]);
            }
        }
    }
    commit_all(env, &format!("work on {name}"));
    env.git(&["switch", "-q", "main"]);
}

/// Edits of one crafted branch (see [`branch`]).
type Edits<'a> = Vec<(&'a str, Option<&'a str>)>;

/// `git merge-tree --write-tree --name-only A B`: the conflicted paths (empty when clean).
fn git_prediction(env: &TestEnv, a: &str, b: &str) -> Vec<String> {
    let mut cmd = env.command("git", &env.repo);
    cmd.args(["merge-tree", "--write-tree", "--name-only", "-z", a, b]);
    let out = env.run(cmd);
    assert!(out.code == 0 || out.code == 1, "{out}");
    let mut fields = out.stdout.split('\0');
    fields.next(); // the tree
    let mut paths: Vec<String> = fields
        .take_while(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

fn lines(n: usize, tag: &str) -> String {
    (1..=n).map(|i| format!("{tag} line {i}\n")).collect()
}

#[test]
fn prediction_matches_git_merge_tree_and_writes_nothing() {
    let env = TestEnv::new();
    env.write("shared.txt", &lines(9, "shared"));
    env.write("old.txt", &lines(20, "old"));
    env.write("r.txt", &lines(20, "r"));
    env.write("d.txt", &lines(5, "d"));
    env.write("df.txt", "file\n");
    commit_all(&env, "base files");
    let top = lines(9, "shared").replacen("shared line 1", "TOP", 1);
    let top2 = lines(9, "shared").replacen("shared line 1", "OTHER TOP", 1);
    let bottom = lines(9, "shared").replacen("shared line 9", "BOTTOM", 1);
    let old_changed = lines(20, "old").replacen("old line 10", "old line ten", 1);
    let d_changed = lines(5, "d").replacen("d line 3", "d line three", 1);
    let cases: Vec<(&str, Edits)> = vec![
        ("top", vec![("shared.txt", Some(&top))]),
        ("top2", vec![("shared.txt", Some(&top2))]),
        ("bottom", vec![("shared.txt", Some(&bottom))]),
        ("rename", vec![("mv old.txt", Some("new.txt"))]),
        ("modify-old", vec![("old.txt", Some(&old_changed))]),
        ("rename-r1", vec![("mv r.txt", Some("r1.txt"))]),
        ("rename-r2", vec![("mv r.txt", Some("r2.txt"))]),
        ("delete-d", vec![("d.txt", None)]),
        ("modify-d", vec![("d.txt", Some(&d_changed))]),
        ("add-a", vec![("added.txt", Some("one\n"))]),
        ("add-b", vec![("added.txt", Some("two\n"))]),
        // A file on one side where the other makes a folder.
        (
            "df-dir",
            vec![("df.txt", None), ("df.txt/inside", Some("x\n"))],
        ),
        ("df-file", vec![("df.txt", Some("changed\n"))]),
        ("deep-a", vec![("deep/er/f.txt", Some("a\n"))]),
        ("deep-b", vec![("deep/er/f.txt", Some("b\n"))]),
    ];
    for (name, edits) in &cases {
        branch(&env, name, edits);
        env.spawn(&["--name", name, "--branch", name, "t"], "exit 0");
    }
    for (name, _) in &cases {
        env.wait_state(name, "done");
    }
    // The target moved on too, conflicting with one of them.
    env.write(
        "shared.txt",
        &lines(9, "shared").replacen("shared line 1", "MAIN TOP", 1),
    );
    commit_all(&env, "main moves");

    let before = objects(&env);
    let out = env.agent(&["conflicts", "--json"]).code(1);
    assert_eq!(objects(&env), before, "the prediction wrote objects");
    let json = out.json();

    for s in json["sessions"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let ours: Vec<String> = serde_json::from_value(s["target_conflicts"].clone()).unwrap();
        assert_eq!(ours, git_prediction(&env, "main", name), "{name} × main");
    }
    let pairs = json["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), cases.len() * (cases.len() - 1) / 2);
    let mut conflicting = 0;
    for p in pairs {
        let (a, b) = (p["a"].as_str().unwrap(), p["b"].as_str().unwrap());
        let ours: Vec<String> = serde_json::from_value(p["conflicts"].clone()).unwrap();
        assert_eq!(ours, git_prediction(&env, a, b), "{a} × {b}");
        conflicting += usize::from(!ours.is_empty());
    }
    // The crafted conflicts are there: content, rename/rename, delete/modify, add/add…
    assert_eq!(conflicting, 6, "{json:#}");
    let pair = |a: &str, b: &str| {
        pairs
            .iter()
            .find(|p| (p["a"] == a && p["b"] == b) || (p["a"] == b && p["b"] == a))
            .unwrap()["conflicts"]
            .clone()
    };
    assert_eq!(pair("top", "top2"), serde_json::json!(["shared.txt"]));
    assert_eq!(pair("top", "bottom"), serde_json::json!([]));
    assert_eq!(
        pair("rename", "modify-old"),
        serde_json::json!([]),
        "rename detection"
    );
    assert_eq!(pair("delete-d", "modify-d"), serde_json::json!(["d.txt"]));
    assert_eq!(pair("add-a", "add-b"), serde_json::json!(["added.txt"]));
    assert_eq!(
        pair("rename-r1", "rename-r2"),
        serde_json::json!(["r.txt", "r1.txt", "r2.txt"])
    );

    let human = env.agent(&["conflicts"]).code(1);
    assert!(human.stdout.contains("top × top2: shared.txt"), "{human}");
    assert!(human.stdout.contains("Merge order: "), "{human}");
    assert!(
        human
            .stdout
            .contains("Then sync top (conflicts with main in shared.txt)"),
        "{human}"
    );
}

#[test]
fn uncommitted_work_counts_and_the_clean_case_exits_zero() {
    let env = TestEnv::new();
    env.write("f.txt", "1\n2\n3\n");
    commit_all(&env, "f");
    session(&env, "clean", "write other.txt x\ncommit other");
    let out = env.agent(&["conflicts"]).ok();
    assert!(out.stdout.contains("No conflicts."), "{out}");
    assert!(out.stdout.contains("Merge order: clean"), "{out}");

    // A running agent's uncommitted edit is part of its result.
    env.spawn(
        &["--name", "busy", "t"],
        &format!(
            "write f.txt 1\\nBUSY\\n3\nwait-for {}",
            env.path("go").display()
        ),
    );
    env.wait_until("busy's edit", || {
        std::fs::read_to_string(worktree(&env, "busy").join("f.txt"))
            .is_ok_and(|t| t.contains("BUSY"))
    });
    env.write("f.txt", "1\nMAIN\n3\n");
    commit_all(&env, "main edits f");
    let before = objects(&env);
    let json = env.agent(&["conflicts", "--json", "busy"]).code(1).json();
    assert_eq!(objects(&env), before);
    assert_eq!(json["sessions"][0]["uncommitted"], true);
    assert_eq!(
        json["sessions"][0]["target_conflicts"],
        serde_json::json!(["f.txt"])
    );
    env.touch("go");
    env.wait_state("busy", "done");
}

#[test]
fn conflicts_json_snapshot() {
    let env = TestEnv::new();
    env.write("f.txt", "1\n2\n3\n4\n5\n");
    commit_all(&env, "f");
    session(&env, "a", "write f.txt A\\n2\\n3\\n4\\n5\ncommit a");
    session(&env, "b", "write f.txt B\\n2\\n3\\n4\\n5\ncommit b");
    session(&env, "c", "write c.txt c\ncommit c");
    let out = env.agent(&["conflicts", "--json"]).code(1);
    insta::assert_snapshot!(normalize(&env, &out.stdout));
}

/// A session with two commits, while main gained an unrelated commit.
fn diverged(strategy_name: &str) -> (TestEnv, String) {
    let env = TestEnv::new();
    env.write("f.txt", "1\n2\n3\n");
    commit_all(&env, "f");
    session(
        &env,
        "w",
        "write a.txt one\ncommit first step\nwrite f.txt 1\\n2\\nTHREE\ncommit second step",
    );
    env.write("m.txt", "main\n");
    commit_all(&env, &format!("main moves ({strategy_name})"));
    let before = rev(&env, "main");
    (env, before)
}

#[test]
fn squash_lands_one_commit_with_the_merged_tree() {
    let (env, before) = diverged("squash");
    let tip = rev(&env, "agent/w");
    let expected_tree = git_merge_tree(&env, &before, &tip);
    let out = env.agent(&["merge", "w"]).ok();
    assert!(
        out.stdout.starts_with("Merged w into main (squash): "),
        "{out}"
    );
    assert_eq!(rev(&env, "main^"), before, "one new commit on top of main");
    assert_eq!(rev(&env, "main^{tree}"), expected_tree);
    let msg = env.git(&["log", "-1", "--format=%B", "main"]);
    assert!(msg.starts_with("task of w\n"), "{msg}");
    assert!(msg.contains("- ") && msg.contains("first step"), "{msg}");
    assert!(msg.contains("Git-Agent-Session: w"), "{msg}");
    // The checkout moved with the branch, and nothing is left uncommitted.
    assert_eq!(env.git(&["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("f.txt")).unwrap(),
        "1\n2\nTHREE\n"
    );
    // Removed safely: the worktree is gone, the branch kept, the record archived as merged.
    assert!(!worktree(&env, "w").exists());
    assert_eq!(rev(&env, "agent/w"), tip);
    assert!(!env.has_record("w"));
    let all = env.agent(&["list", "--all"]).ok();
    assert!(all.stdout.contains("merged (removed)"), "{all}");
}

fn git_merge_tree(env: &TestEnv, a: &str, b: &str) -> String {
    env.git(&["merge-tree", "--write-tree", a, b])
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn merge_makes_a_merge_commit_and_keep_keeps_the_session() {
    let (env, before) = diverged("merge");
    let tip = rev(&env, "agent/w");
    let expected_tree = git_merge_tree(&env, &before, &tip);
    let json = env
        .agent(&["merge", "w", "--merge", "--keep", "--json"])
        .ok()
        .json();
    assert_eq!(json["steps"][0]["result"], "merged");
    assert_eq!(json["steps"][0]["commit"], rev(&env, "main"));
    assert_eq!(rev(&env, "main^1"), before);
    assert_eq!(rev(&env, "main^2"), tip);
    assert_eq!(rev(&env, "main^{tree}"), expected_tree);
    // Kept: the worktree is back on its branch, clean, and the session shows merged.
    let wt = worktree(&env, "w");
    assert_eq!(
        env.git_in(&wt, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/agent/w"
    );
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    assert_eq!(env.record("w")["merged"]["strategy"], "merge");
    let list = env.agent(&["list"]).ok();
    assert!(list.stdout.contains("merged"), "{list}");
    // Merging again is a no-op.
    let again = env.agent(&["merge", "w", "--keep"]).ok();
    assert!(again.stderr.contains("already in main"), "{again}");
    assert_eq!(rev(&env, "main^2"), tip);
}

#[test]
fn rebase_replays_the_commits_and_ff_only_refuses_a_diverged_branch() {
    let (env, before) = diverged("rebase");
    let tip = rev(&env, "agent/w");
    let expected_tree = git_merge_tree(&env, &before, &tip);
    let refused = env.agent(&["merge", "w", "--ff-only"]).code(1);
    assert!(refused.stderr.contains("not a fast-forward"), "{refused}");
    assert_eq!(rev(&env, "main"), before, "nothing moved");

    env.agent(&["merge", "w", "--rebase", "--keep"]).ok();
    let log = env.git(&["log", "--format=%s", &format!("{before}..main")]);
    assert_eq!(
        log, "second step\nfirst step\n",
        "linear, the agent's commits"
    );
    assert_eq!(rev(&env, "main^^"), before);
    assert_eq!(rev(&env, "main^{tree}"), expected_tree);
    assert_eq!(
        rev(&env, "agent/w"),
        rev(&env, "main"),
        "the branch was rebased"
    );
}

#[test]
fn ff_only_fast_forwards_and_the_target_may_be_checked_out_nowhere() {
    let env = TestEnv::new();
    env.git(&["branch", "release"]);
    env.spawn(
        &["--name", "fix", "--base", "release", "t"],
        "write fix.txt x\ncommit fix",
    );
    env.wait_state("fix", "done");
    let tip = rev(&env, "agent/fix");
    let main_before = rev(&env, "main");
    let out = env.agent(&["merge", "fix", "--ff-only"]).ok();
    assert!(out.stdout.contains("into release (ff-only)"), "{out}");
    assert_eq!(rev(&env, "release"), tip);
    // Only the ref moved: the main checkout is untouched.
    assert_eq!(rev(&env, "main"), main_before);
    assert!(!env.repo.join("fix.txt").exists());
    let reflog = env.git(&["reflog", "-1", "--format=%gs", "release"]);
    assert!(reflog.contains("git agent merge: fix"), "{reflog}");
}

#[test]
fn a_dirty_target_checkout_is_refused_and_nothing_changes() {
    let (env, before) = diverged("dirty");
    env.write("f.txt", "my own edit\n");
    let wt = worktree(&env, "w");
    let out = env.agent(&["merge", "w"]).code(1);
    assert!(
        out.stderr
            .contains("your local changes there touch files the merge changes")
            && out.stderr.contains("  f.txt"),
        "{out}"
    );
    assert_eq!(rev(&env, "main"), before);
    assert_eq!(
        std::fs::read_to_string(env.repo.join("f.txt")).unwrap(),
        "my own edit\n"
    );
    assert!(wt.exists() && env.has_record("w"));
    assert_eq!(
        env.git_in(&wt, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/agent/w"
    );
    assert!(env.record("w").get("merged").is_none());

    // A local change elsewhere does not stand in the way, and survives.
    env.git(&["checkout", "f.txt"]);
    env.write("notes.txt", "mine\n");
    env.write("README.md", "hello, edited\n");
    env.agent(&["merge", "w"]).ok();
    assert_ne!(rev(&env, "main"), before);
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "hello, edited\n"
    );
    assert_eq!(
        env.git(&["status", "--porcelain"]),
        " M README.md\n?? notes.txt\n"
    );
}

#[test]
fn predicted_conflicts_refuse_and_running_agents_are_not_merged() {
    let env = TestEnv::new();
    env.write("f.txt", "1\n2\n3\n");
    commit_all(&env, "f");
    session(&env, "c", "write f.txt 1\\nAGENT\\n3\ncommit agent edit");
    env.write("f.txt", "1\nMAIN\n3\n");
    commit_all(&env, "main edit");
    let before = rev(&env, "main");
    let out = env.agent(&["merge", "c"]).code(1);
    assert!(
        out.stderr.contains("would conflict in:\n    f.txt"),
        "{out}"
    );
    assert!(out.stderr.contains("git agent sync c"), "{out}");
    assert_eq!(rev(&env, "main"), before);
    assert_eq!(env.git(&["status", "--porcelain"]), "");

    env.spawn(
        &["--name", "busy", "t"],
        &format!("wait-for {}", env.path("go").display()),
    );
    let out = env.agent(&["merge", "busy"]).code(128);
    assert!(out.stderr.contains("is still running"), "{out}");
    assert!(out.stderr.contains("git agent stop busy"), "{out}");
    env.touch("go");
    env.wait_state("busy", "done");

    let plan = env.agent(&["merge", "busy", "--dry-run"]).ok();
    assert!(plan.stdout.contains("nothing to merge"), "{plan}");
}

#[test]
fn dry_run_shows_what_would_land_and_changes_nothing() {
    let (env, before) = diverged("dry");
    std::fs::write(worktree(&env, "w").join("extra.txt"), "uncommitted\n").unwrap();
    let out = env.agent(&["merge", "w", "--dry-run"]).ok();
    assert!(
        out.stdout
            .contains("Would merge w into main (squash), cleanly:"),
        "{out}"
    );
    assert!(
        out.stdout.contains("first step") && out.stdout.contains("second step"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("after committing the uncommitted changes"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("main is checked out in .: it would move with it"),
        "{out}"
    );
    assert_eq!(rev(&env, "main"), before);
    assert_eq!(
        env.git_in(&worktree(&env, "w"), &["status", "--porcelain"]),
        "?? extra.txt\n"
    );
}

#[test]
fn hooks_run_and_no_editor_opens() {
    let (mut env, before) = diverged("hooks");
    let hooks = env.root().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let log = env.root().join("hooks.log");
    let hook = format!(
        "#!/bin/sh\necho \"$(basename \"$0\")\" >> {}\n",
        log.display()
    );
    for name in ["commit-msg", "pre-merge-commit", "post-merge"] {
        let p = hooks.join(name);
        std::fs::write(&p, &hook).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    env.git(&["config", "core.hooksPath", hooks.to_str().unwrap()]);
    // An editor that fails: if anything opened it, the merge would fail.
    env.set_env("GIT_EDITOR", "false");
    env.set_env("GIT_SEQUENCE_EDITOR", "false");
    env.agent(&["merge", "w", "--merge"]).ok();
    assert_eq!(rev(&env, "main^1"), before);
    let ran = std::fs::read_to_string(&log).unwrap();
    assert!(
        ran.contains("pre-merge-commit") && ran.contains("commit-msg"),
        "{ran}"
    );
    assert!(
        ran.contains("post-merge"),
        "the target's checkout ran post-merge: {ran}"
    );
}

#[test]
fn a_hook_that_refuses_leaves_everything_as_it_was() {
    let (env, before) = diverged("refusing hook");
    let hooks = env.root().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let p = hooks.join("commit-msg");
    std::fs::write(&p, "#!/bin/sh\necho 'no, thanks' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    env.git(&["config", "core.hooksPath", hooks.to_str().unwrap()]);
    let tip = rev(&env, "agent/w");
    let out = env.agent(&["merge", "w"]).code(128);
    assert!(out.stderr.contains("no, thanks"), "{out}");
    assert_eq!(rev(&env, "main"), before);
    let wt = worktree(&env, "w");
    assert_eq!(
        env.git_in(&wt, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/agent/w"
    );
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    assert_eq!(rev(&env, "agent/w"), tip);
}

#[test]
fn verify_runs_on_the_merged_result_before_the_target_moves() {
    let (env, before) = diverged("verify");
    // Passes only when both main's and the agent's changes are there.
    env.git(&[
        "config",
        "agent.verify",
        "test -f m.txt && grep -q NOPE f.txt",
    ]);
    let out = env.agent(&["merge", "w", "--verify"]).code(1);
    assert!(
        out.stderr.contains("verify failed on the merged result"),
        "{out}"
    );
    assert_eq!(rev(&env, "main"), before);
    assert_eq!(
        env.git_in(&worktree(&env, "w"), &["symbolic-ref", "HEAD"])
            .trim(),
        "refs/heads/agent/w"
    );
    env.git(&[
        "config",
        "agent.verify",
        "test -f m.txt && grep -q THREE f.txt",
    ]);
    let out = env.agent(&["merge", "w", "--verify"]).ok();
    assert!(out.stderr.contains("w: verify passed"), "{out}");
    assert_ne!(rev(&env, "main"), before);
}

#[test]
fn a_queue_stops_at_the_first_conflict_and_leaves_the_rest() {
    let env = TestEnv::new();
    env.write("f.txt", "1\n2\n3\n");
    commit_all(&env, "f");
    session(&env, "a", "write a.txt a\ncommit a");
    session(&env, "b", "write f.txt 1\\nB\\n3\ncommit b");
    session(&env, "c", "write f.txt 1\\n2\\nC\ncommit c");
    env.write("f.txt", "1\nMAIN\nMAIN\n");
    commit_all(&env, "main edits both lines");
    let (b_tip, c_tip) = (rev(&env, "agent/b"), rev(&env, "agent/c"));
    let out = env.agent(&["merge", "a", "b", "c"]).code(1);
    assert!(out.stderr.contains("Merge order: a, b, c"), "{out}");
    assert!(out.stdout.contains("Merged a into main"), "{out}");
    assert!(
        out.stderr
            .contains("error: b: merging it into main would conflict"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("Stopped at b. Merged: a. Not attempted: c."),
        "{out}"
    );
    assert!(env.repo.join("a.txt").exists());
    assert_eq!(rev(&env, "agent/b"), b_tip);
    assert_eq!(rev(&env, "agent/c"), c_tip);
    assert!(env.has_record("b") && env.has_record("c") && !env.has_record("a"));
}

#[test]
fn a_queue_merges_all_and_fast_forward_only_rebases_each_onto_the_last() {
    let env = TestEnv::new();
    session(&env, "x", "write x.txt x\ncommit x");
    session(&env, "y", "write y.txt y\ncommit y");
    session(&env, "z", "write z.txt z\ncommit z");
    env.agent(&["merge", "--ff-only", "x", "y", "z"]).ok();
    let log = env.git(&["log", "--format=%s", "main"]);
    assert_eq!(log.lines().count(), 4, "{log}");
    assert_eq!(env.git(&["log", "--merges", "--format=%h", "main"]), "");
    for f in ["x.txt", "y.txt", "z.txt"] {
        assert!(env.repo.join(f).exists(), "{f}");
    }
}

#[test]
fn sync_merges_the_target_in_without_stash_and_conflicts_stay_in_the_worktree() {
    let env = TestEnv::new();
    env.write("f.txt", "1\n2\n3\n");
    commit_all(&env, "f");
    env.git(&["config", "rebase.autoStash", "true"]);
    env.git(&["config", "merge.autoStash", "true"]);
    env.spawn(
        &["--name", "s", "--no-auto-commit", "t"],
        "write g.txt agent\ncommit g\nwrite h.txt left",
    );
    env.wait_state("s", "done");
    env.write("m.txt", "main\n");
    commit_all(&env, "main adds m");
    let wt = worktree(&env, "s");
    let out = env.agent(&["sync", "s"]).ok();
    assert!(out.stdout.starts_with("Synced s with main"), "{out}");
    assert!(wt.join("m.txt").exists() && wt.join("h.txt").exists());
    assert_eq!(
        env.git_in(&wt, &["status", "--porcelain"]),
        "",
        "leftovers committed"
    );
    assert_eq!(env.git(&["stash", "list"]), "");
    assert_eq!(env.record("s")["synced"]["target"], "main");
    // The changes since the sync are the agent's own.
    let list = env.agent(&["list"]).ok();
    assert!(list.stdout.contains("2 files +2 -0"), "{list}");
    assert!(env.agent(&["sync", "s"]).ok().stdout.contains("up to date"));

    // A conflict is left in the agent's worktree, never in yours.
    std::fs::write(wt.join("f.txt"), "1\nAGENT\n3\n").unwrap();
    env.git_in(&wt, &["commit", "-qam", "agent edits f"]);
    env.write("f.txt", "1\nMAIN\n3\n");
    commit_all(&env, "main edits f");
    let out = env.agent(&["sync", "s"]).code(1);
    assert!(
        out.stderr.contains("stopped at a conflict in:\n    f.txt"),
        "{out}"
    );
    assert!(out.stderr.contains("git agent sync s --continue"), "{out}");
    assert_eq!(env.git(&["status", "--porcelain"]), "");
    assert!(
        env.git_in(&wt, &["status", "--porcelain"])
            .contains("UU f.txt")
    );
    let out = env.agent(&["sync", "s", "--continue"]).code(1);
    assert!(
        out.stderr.contains("conflict markers are still in"),
        "{out}"
    );
    std::fs::write(wt.join("f.txt"), "1\nAGENT AND MAIN\n3\n").unwrap();
    env.agent(&["sync", "s", "--continue"]).ok();
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    assert_eq!(rev(&env, "agent/s^2"), rev(&env, "main"));
    assert_eq!(env.git(&["stash", "list"]), "");
    // And merging it now is clean.
    env.agent(&["merge", "s", "--dry-run"]).ok();
}

#[test]
fn sync_rebase_and_abort() {
    let env = TestEnv::new();
    env.write("f.txt", "1\n2\n3\n");
    commit_all(&env, "f");
    session(&env, "r", "write f.txt 1\\nAGENT\\n3\ncommit agent edit");
    env.write("f.txt", "1\nMAIN\n3\n");
    commit_all(&env, "main edit");
    let tip = rev(&env, "agent/r");
    let wt = worktree(&env, "r");
    env.agent(&["sync", "r", "--rebase"]).code(1);
    assert!(wt.join(".git").exists());
    let out = env.agent(&["merge", "r"]).code(128);
    assert!(out.stderr.contains("a rebase is in progress"), "{out}");
    let out = env.agent(&["sync", "r", "--abort"]).ok();
    assert!(out.stdout.contains("Took back the sync of r"), "{out}");
    assert_eq!(rev(&env, "agent/r"), tip);
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");

    // The agent is asked with what each side was doing.
    let out = env.agent(&["sync", "r", "--ask-agent"]).code(1);
    assert!(out.stderr.contains("Asked the agent of r"), "{out}");
    env.wait_state("r", "done");
    let prompt = env.record("r")["runs"][1]["prompt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        prompt.contains("main edit") && prompt.contains("task of r"),
        "{prompt}"
    );
    assert!(
        prompt.contains("- f.txt") && prompt.contains("git stash"),
        "{prompt}"
    );
}

#[test]
fn apply_puts_the_changes_here_uncommitted_and_refuses_over_local_edits() {
    let env = TestEnv::new();
    env.write("f.txt", "1\n2\n3\n");
    commit_all(&env, "f");
    session(
        &env,
        "p",
        "write f.txt 1\\nP\\n3\nwrite new.txt new\ncommit p",
    );
    let head = rev(&env, "HEAD");
    env.write("f.txt", "mine\n");
    let out = env.agent(&["merge", "p", "--apply"]).code(1);
    assert!(
        out.stderr.contains("local changes to files p changes") && out.stderr.contains("f.txt"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("f.txt")).unwrap(),
        "mine\n"
    );
    assert!(!env.repo.join("new.txt").exists());

    env.git(&["checkout", "f.txt"]);
    let out = env.agent(&["merge", "p", "--apply"]).ok();
    assert!(out.stdout.contains("Applied the changes of p"), "{out}");
    assert_eq!(rev(&env, "HEAD"), head, "nothing committed");
    assert_eq!(
        env.git(&["status", "--porcelain"]),
        " M f.txt\n?? new.txt\n"
    );
    assert!(env.has_record("p"), "the session stays");
}

#[test]
fn pr_pushes_and_opens_a_pull_request_with_gh() {
    let env = TestEnv::new();
    let remote = env.root().join("remote.git");
    env.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
    env.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    env.git(&["push", "-q", "-u", "origin", "main"]);
    session(&env, "pr", "write p.txt p\ncommit p");
    let gh_log = env.root().join("gh.log");
    let gh = env.bin.join("gh");
    std::fs::write(
        &gh,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do echo \"arg: $a\"; done > {0}\necho \"stdin: $(cat)\" >> {0}\necho https://github.com/acme/w/pull/7\n",
            gh_log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&gh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = env.agent(&["merge", "pr", "--pr"]).ok();
    assert!(
        out.stdout
            .contains("Opened a pull request for pr: https://github.com/acme/w/pull/7"),
        "{out}"
    );
    let args = std::fs::read_to_string(&gh_log).unwrap();
    assert!(
        args.contains("arg: pr\narg: create\narg: --head\narg: agent/pr\narg: --base\narg: main\narg: --title\narg: task of pr\narg: --body-file\narg: -\n"),
        "{args}"
    );
    assert!(
        args.contains("stdin: ## Task") && args.contains("task of pr"),
        "{args}"
    );
    assert_eq!(
        env.git_in(&remote, &["rev-parse", "refs/heads/agent/pr"])
            .trim(),
        rev(&env, "agent/pr")
    );
    let record = env.record("pr");
    assert_eq!(
        record["pull_request"]["url"],
        "https://github.com/acme/w/pull/7"
    );
    assert_eq!(record["pull_request"]["opened"], true);
    assert!(
        worktree(&env, "pr").exists(),
        "a pull request keeps the session"
    );

    // Without gh: pushed, and told where to open one.
    std::fs::remove_file(&gh).unwrap();
    let out = env.agent(&["merge", "pr", "--pr"]).ok();
    assert!(
        out.stdout
            .contains("Pushed agent/pr to origin; open a pull request for it there"),
        "{out}"
    );
}

#[test]
fn merge_the_winner_and_discard_the_other_variants() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "v", "-n", "3", "t"],
        "write shared-name.txt x\ncommit variant",
    );
    for i in 1..=3 {
        env.wait_state(&format!("v-{i}"), "done");
    }
    // v-3 has uncommitted work of its own now.
    std::fs::write(worktree(&env, "v-3").join("mine.txt"), "keep me\n").unwrap();
    let tips: Vec<String> = (1..=3)
        .map(|i| rev(&env, &format!("agent/v-{i}")))
        .collect();
    let out = env.agent(&["merge", "v-2", "--discard-others"]).code(1);
    assert!(out.stdout.contains("Merged v-2 into main"), "{out}");
    assert!(
        out.stderr
            .contains("Discarded v-1: worktree removed; branch agent/v-1 kept"),
        "{out}"
    );
    assert!(
        out.stderr.contains("kept v-3") && out.stderr.contains("mine.txt"),
        "{out}"
    );
    assert!(!worktree(&env, "v-1").exists() && worktree(&env, "v-3").exists());
    assert_eq!(
        rev(&env, "agent/v-1"),
        tips[0],
        "the loser's branch is kept"
    );
    assert!(!env.has_record("v-1") && env.has_record("v-3"));
    let out = env
        .agent(&["merge", "v-2", "--discard-others", "--force"])
        .ok();
    assert!(out.stderr.contains("Discarded v-3"), "{out}");
    assert!(!worktree(&env, "v-3").exists());
    assert_eq!(rev(&env, "agent/v-3"), tips[2]);
}

#[test]
fn usage_errors_and_help() {
    let env = TestEnv::new();
    let out = env.agent(&["merge"]).code(2);
    assert!(out.stderr.contains("name the session to merge"), "{out}");
    env.agent(&["merge", "--squash", "--rebase", "x"]).code(2);
    let out = env.agent(&["merge", "nope"]).code(128);
    assert!(out.stderr.contains("no session named 'nope'"), "{out}");
    let help = env.agent(&["conflicts", "--help"]).ok();
    assert!(help.stdout.contains("Usage: git agent conflicts"), "{help}");
    let help = env.agent(&["help", "sync"]).ok();
    assert!(help.stdout.contains("Usage: git agent sync"), "{help}");
    // A session started from a commit has no branch to go to.
    let head = rev(&env, "HEAD");
    env.spawn(
        &["--name", "detached", "--base", &head, "t"],
        "write d.txt d\ncommit d",
    );
    env.wait_state("detached", "done");
    let out = env.agent(&["merge", "detached"]).code(128);
    assert!(out.stderr.contains("--into BRANCH"), "{out}");
    env.agent(&["merge", "detached", "--into", "main"]).ok();
    assert!(env.repo.join("d.txt").exists());
}

#[test]
fn a_target_behind_its_upstream_is_not_squashed_with_upstream_commits() {
    let env = TestEnv::new();
    let remote = env.root().join("remote.git");
    env.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
    env.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    env.git(&["push", "-q", "-u", "origin", "main"]);
    // Someone else pushes; our main is now behind origin/main.
    let other = env.root().join("other");
    env.git(&[
        "clone",
        "-q",
        remote.to_str().unwrap(),
        other.to_str().unwrap(),
    ]);
    std::fs::write(other.join("up.txt"), "upstream\n").unwrap();
    env.git_in(&other, &["add", "up.txt"]);
    env.git_in(&other, &["commit", "-q", "-m", "upstream work"]);
    env.git_in(&other, &["push", "-q", "origin", "main"]);
    env.spawn(
        &["--name", "f", "--base", "@fresh", "t"],
        "write f.txt f\ncommit f",
    );
    env.wait_state("f", "done");
    let before = rev(&env, "main");
    let out = env.agent(&["merge", "f"]).code(128);
    assert!(out.stderr.contains("main is behind origin/main"), "{out}");
    assert_eq!(rev(&env, "main"), before);
    // Brought up to date, the squash holds only the agent's work.
    env.git(&["merge", "-q", "--ff-only", "origin/main"]);
    env.agent(&["merge", "f"]).ok();
    assert_eq!(rev(&env, "main^"), rev(&env, "origin/main"));
    let files = env.git(&["show", "--format=", "--name-only", "main"]);
    assert_eq!(files, "f.txt\n");
}

#[test]
fn a_session_whose_worktree_is_gone_still_merges_from_its_branch() {
    let (env, before) = diverged("gone");
    std::fs::remove_dir_all(worktree(&env, "w")).unwrap();
    let out = env.agent(&["merge", "w"]).ok();
    assert!(out.stdout.contains("Merged w into main (squash)"), "{out}");
    assert_eq!(rev(&env, "main^"), before);
    assert!(env.repo.join("a.txt").exists());
    // The temporary worktree is gone and git no longer lists the session's.
    let list = env.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 1, "{list}");
    assert!(!env.has_record("w"));
}

#[test]
fn a_rebase_that_stops_at_a_conflict_stays_in_the_agents_worktree() {
    let env = TestEnv::new();
    env.write("f.txt", "1\n2\n3\n");
    commit_all(&env, "f");
    // Its first commit conflicts with main; its second takes the change back.
    session(
        &env,
        "rb",
        "write f.txt 1\\nAGENT\\n3\ncommit agent edit\nwrite f.txt 1\\n2\\n3\ncommit agent undo\nwrite g.txt g\ncommit g",
    );
    env.write("f.txt", "1\nMAIN\n3\n");
    commit_all(&env, "main edit");
    let before = rev(&env, "main");
    let out = env.agent(&["merge", "rb", "--rebase"]).code(1);
    assert!(
        out.stderr
            .contains("rebasing onto main stopped at a conflict in:\n    f.txt"),
        "{out}"
    );
    assert!(out.stderr.contains("rebase --continue"), "{out}");
    assert_eq!(rev(&env, "main"), before);
    assert_eq!(env.git(&["status", "--porcelain"]), "");
    let wt = worktree(&env, "rb");
    assert!(env.git_in(&wt, &["status"]).contains("rebase in progress"));
    env.agent(&["sync", "rb", "--abort"]).ok();
    assert_eq!(
        env.git_in(&wt, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/agent/rb"
    );
}

#[test]
fn conflicts_looks_at_ended_worktrees_by_default_and_with_scan() {
    let env = TestEnv::new();
    env.write("f.txt", "1\n2\n3\n");
    commit_all(&env, "f");
    session(&env, "e", "write e.txt e\ncommit e");
    // An edit by hand after the run ended, uncommitted.
    std::fs::write(worktree(&env, "e").join("f.txt"), "1\nHAND\n3\n").unwrap();
    env.write("f.txt", "1\nMAIN\n3\n");
    commit_all(&env, "main edits f");
    // The run left it clean, but a quick look sees the edit: the default counts it too.
    let json = env.agent(&["conflicts", "--json"]).code(1).json();
    assert_eq!(json["sessions"][0]["uncommitted"], true);
    let json = env.agent(&["conflicts", "--scan", "--json"]).code(1).json();
    assert_eq!(json["sessions"][0]["uncommitted"], true);
    assert_eq!(
        json["sessions"][0]["target_conflicts"],
        serde_json::json!(["f.txt"])
    );
}
