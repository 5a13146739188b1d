//! `git agent review`: the whole result against the base as it is now, comparisons, verify,
//! and review rounds sent back to the agent.

use crate::support::{TestEnv, normalize};

fn commit_all(env: &TestEnv, message: &str) {
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", message]);
}

/// A session whose worktree has one commit, one staged edit, one unstaged edit and one new
/// untracked file, while its base gained two unrelated commits.
fn four_changes() -> TestEnv {
    let env = TestEnv::new();
    env.write("a.txt", "a\nb\nc\n");
    env.write("b.txt", "x\n");
    commit_all(&env, "files");
    env.spawn(
        &["--name", "r", "--no-auto-commit", "t"],
        "write c.txt committed\ncommit agent commit\nwrite a.txt a\\nB\\nc\ngit-add a.txt\nappend b.txt y\nwrite d.txt new",
    );
    env.wait_state("r", "done");
    env.write("base1.txt", "base\n");
    commit_all(&env, "base moves on 1");
    env.write("base2.txt", "base\n");
    commit_all(&env, "base moves on 2");
    env
}

#[test]
fn review_shows_the_whole_result_and_nothing_from_the_base() {
    let env = four_changes();
    let wt = env.agents_dir().join("r");
    let index = env.repo.join(".git/worktrees/r/index");
    let before = std::fs::read(&index).unwrap();
    assert_eq!(
        env.git_in(&wt, &["status", "--porcelain"]),
        "M  a.txt\n M b.txt\n?? d.txt\n"
    );

    let names = env.agent(&["review", "r", "--name-only"]).ok();
    assert_eq!(names.stdout, "a.txt\nb.txt\nc.txt\nd.txt\n");
    assert!(
        names
            .stderr
            .contains("Review of r: agent/r with its uncommitted changes, against main @"),
        "{names}"
    );
    let diff = env.agent(&["review", "r"]).ok();
    for expected in ["-b\n+B", "+y", "+committed", "+new"] {
        assert!(
            diff.stdout.contains(expected),
            "missing {expected:?}:\n{diff}"
        );
    }
    assert!(
        !diff.stdout.contains("base1") && !diff.stdout.contains("base2"),
        "{diff}"
    );
    let stat = env.agent(&["review", "r", "--stat", "--", "a.txt"]).ok();
    assert!(
        stat.stdout.contains("a.txt | 2 +-") && stat.stdout.contains("1 file changed"),
        "{stat}"
    );
    assert_eq!(
        std::fs::read(&index).unwrap(),
        before,
        "the worktree's index is untouched"
    );
    assert_eq!(
        env.git_in(&wt, &["status", "--porcelain"]),
        "M  a.txt\n M b.txt\n?? d.txt\n"
    );

    let json = env.agent(&["review", "r", "--json"]).ok();
    insta::assert_snapshot!(normalize(&env, &json.stdout));
    // The binary directly, as well as through git agent.
    let direct = env
        .agent_direct_bin("git-agent-review", &env.repo, &["r", "--name-only"])
        .ok();
    assert_eq!(direct.stdout, names.stdout);
}

#[test]
fn two_results_compared_and_variants_ranked() {
    let env = TestEnv::new();
    env.git(&["config", "agent.verify", "test -f good.txt"]);
    env.spawn(
        &["-n", "3", "--name", "v", "t"],
        "write common.txt shared\nwrite v$GIT_AGENT_VARIANT.txt mine, variant $GIT_AGENT_VARIANT",
    );
    env.agent(&["wait", "--all"]).ok();
    // Variant 2 is the one that passes verify.
    std::fs::write(env.agents_dir().join("v-2/good.txt"), "ok\n").unwrap();

    let between = env.agent(&["review", "v-1", "v-2", "--name-only"]).ok();
    assert_eq!(between.stdout, "good.txt\nv1.txt\nv2.txt\n");
    let against = env
        .agent(&["review", "v-1", "--against", "v-2", "--json"])
        .ok()
        .json();
    assert_eq!(against["files"].as_array().unwrap().len(), 3);

    let out = env.agent(&["review", "--group", "v", "--verify"]).code(1);
    assert!(out.stderr.contains("v-2: verify passed"), "{out}");
    assert!(out.stderr.contains("v-1: verify FAILED (exit 1)"), "{out}");
    let first = out.stdout.lines().nth(1).unwrap();
    assert!(
        first.starts_with("1  v-2"),
        "the passing variant first:\n{out}"
    );
    let json = env
        .agent(&["review", "--compare", "v-3", "v-2", "v-1", "--json"])
        .ok()
        .json();
    let order: Vec<&str> = json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["v-2", "v-1", "v-3"]);
    assert_eq!(json["sessions"][0]["verify"], "passed");
    assert_eq!(json["sessions"][0]["files"], 3);
    env.agent(&["review", "--group", "nope"]).code(128);
    env.agent(&["review", "--compare", "v-1"]).code(2);
}

#[test]
fn verify_is_recorded_and_shown() {
    let env = TestEnv::new();
    env.spawn(&["--name", "ok", "t"], "write x.txt 1");
    env.wait_state("ok", "done");
    let clean = env.agent(&["review", "ok", "--stat"]).ok();
    assert!(
        clean
            .stderr
            .contains("Review of ok: agent/ok, against main"),
        "a clean worktree has no uncommitted changes to mention:\n{clean}"
    );
    let none = env.agent(&["review", "ok", "--verify"]).code(128);
    assert!(none.stderr.contains("there is no verify command"), "{none}");

    env.git(&[
        "config",
        "agent.verify",
        "echo checking $GIT_AGENT_NAME; test -f x.txt",
    ]);
    let out = env.agent(&["review", "ok", "--verify"]).ok();
    assert!(out.stdout.starts_with("ok: verify passed in"), "{out}");
    assert!(
        out.stderr.contains("  checking ok"),
        "the output is shown as it comes:\n{out}"
    );
    let v = &env.record("ok")["verify"];
    assert_eq!(v["passed"], true);
    assert_eq!(v["tail"][0], "checking ok");
    assert_eq!(v["source"], "config");

    env.git(&["config", "agent.verify", "echo broken >&2; exit 3"]);
    let out = env.agent(&["review", "ok", "--verify"]).code(1);
    assert!(out.stdout.contains("ok: verify FAILED (exit 3)"), "{out}");
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stdout.contains("VERIFY") && list.stdout.contains("failed"),
        "{list}"
    );
    let show = env.agent(&["show", "ok"]).ok();
    assert!(
        show.stdout.contains("FAILED (exit 3)") && show.stdout.contains("broken"),
        "{show}"
    );
    assert!(!show.stdout.contains("stale"), "{show}");

    // Once the branch moves on, the result no longer describes it.
    let wt = std::path::PathBuf::from(env.record("ok")["worktree"].as_str().unwrap().to_owned());
    std::fs::write(wt.join("y.txt"), "more\n").unwrap();
    env.git_in(&wt, &["add", "y.txt"]);
    env.git_in(&wt, &["commit", "-qm", "more"]);
    let list = env.agent(&["list"]).ok();
    assert!(list.stdout.contains("failed (stale)"), "{list}");
    let show = env.agent(&["show", "ok"]).ok();
    assert!(
        show.stdout.contains("(stale: the branch changed since)"),
        "{show}"
    );

    // A verify command from the project file needs approval.
    env.git(&["config", "--unset", "agent.verify"]);
    env.write(".git-agent.toml", "verify = \"true\"\n");
    commit_all(&env, "verify");
    env.spawn(&["--name", "p", "t"], "print x");
    env.wait_state("p", "done");
    env.agent(&["review", "p", "--verify"]).code(3);
    env.agent(&["review", "p", "--verify", "--trust"]).ok();

    // Not while the agent runs.
    env.spawn(
        &["--name", "busy", "t"],
        &format!("wait-for {}", env.path("go").display()),
    );
    let out = env
        .agent(&["review", "busy", "--verify", "--trust"])
        .code(128);
    assert!(out.stderr.contains("is still running"), "{out}");
    env.touch("go");
}

#[test]
fn review_rounds_are_stored_and_sent_to_the_agent() {
    let mut env = TestEnv::new();
    env.install_fake("claude");
    let script = env.script(
        "agent",
        "write src/login.rs fn login() {\\n    check(password == stored);\\n}",
    );
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&["new", "--agent", "claude", "--name", "c", "write login"])
        .ok();
    env.wait_state("c", "done");

    let out = env
        .agent(&[
            "review",
            "c",
            "--comment",
            "src/login.rs:2",
            "use a constant-time comparison",
            "--comment",
            "-",
            "add a test",
        ])
        .ok();
    assert!(
        out.stdout.contains("Review round 1 of c: 2 comment(s)"),
        "{out}"
    );
    let file = env.state_dir().join("sessions/c/reviews/001.md");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("status: open"), "{text}");
    assert!(text.contains("## src/login.rs:2\n\n```diff\n@@ -0,0 +1,3 @@\n+fn login() {\n+    check(password == stored);"), "{text}");
    assert!(text.contains("## General\n\nadd a test"), "{text}");

    let rounds = env.agent(&["review", "c", "--list-rounds"]).ok();
    assert!(
        rounds
            .stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("1      open    2"),
        "{rounds}"
    );

    let sent = env.agent(&["review", "c", "--send"]).ok();
    assert!(
        sent.stdout
            .contains("Sent to c (run 2, resuming claude's session"),
        "{sent}"
    );
    env.wait_state("c", "done");
    let calls: Vec<_> = env
        .calls()
        .into_iter()
        .filter(|c| c["env"]["GIT_AGENT_NAME"] == "c")
        .collect();
    let prompt = calls[1]["env"]["GIT_AGENT_PROMPT"].as_str().unwrap();
    assert!(
        prompt.starts_with("Review comments on your changes (review round 1)"),
        "{prompt}"
    );
    assert!(
        prompt.contains("use a constant-time comparison")
            && prompt.contains("check(password == stored)"),
        "{prompt}"
    );
    let argv: Vec<&str> = calls[1]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(argv.contains(&"--resume"), "resumed: {argv:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("status: sent") && text.contains("run: 2"),
        "{text}"
    );

    // Nothing open now; the next comment opens round 2, sent with `git agent send --review`.
    env.agent(&["review", "c", "--send"]).code(128);
    env.agent(&[
        "review",
        "c",
        "--comment",
        "src/login.rs",
        "rename the file",
    ])
    .ok();
    env.agent(&["send", "c", "--review"]).ok();
    env.wait_state("c", "done");
    let rounds = env.agent(&["review", "c", "--list-rounds"]).ok();
    assert!(rounds.stdout.contains("sent (run 3)"), "{rounds}");
    env.agent(&["review", "c", "--comment", "src/login.rs:0", "x"])
        .code(2);
}

#[test]
fn comments_written_in_the_editor() {
    let mut env = TestEnv::new();
    env.spawn(&["--name", "e", "t"], "write notes.txt one\\ntwo\\nthree");
    env.wait_state("e", "done");
    // A scripted editor: a comment under the line "+two", and a general one at the top.
    let editor = env.root().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i -e 's/^+two$/+two\\n>> two is wrong\\n>> really/' -e '0,/^diff --git/s//>> overall fine\\ndiff --git/' \"$1\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set_env("GIT_EDITOR", editor.to_str().unwrap());
    let out = env.agent(&["review", "e", "--edit"]).ok();
    assert!(
        out.stdout.contains("Review round 1 of e: 2 comment(s)"),
        "{out}"
    );
    let text = std::fs::read_to_string(env.state_dir().join("sessions/e/reviews/001.md")).unwrap();
    assert!(text.contains("## General\n\noverall fine"), "{text}");
    assert!(text.contains("## notes.txt:2\n\n```diff\n@@ -0,0 +1,3 @@\n+one\n+two\n+three\n```\n\ntwo is wrong\nreally"), "{text}");
    // An editor session with no comments stores nothing.
    env.set_env("GIT_EDITOR", "true");
    let out = env.agent(&["review", "e", "--edit"]).ok();
    assert!(out.stderr.contains("No comments; nothing stored."), "{out}");
}

#[test]
fn review_errors() {
    let env = TestEnv::new();
    env.agent(&["review"]).code(2);
    env.agent(&["review", "nope"]).code(128);
    env.spawn(&["--name", "a", "t"], "print x");
    env.agent(&["review", "a", "b", "c"]).code(2);
    env.agent(&["review", "a", "--json", "--stat"]).code(2);
}
