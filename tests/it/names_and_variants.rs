//! Session names from prompts, collisions, and variants of one task.

use crate::support::TestEnv;

#[test]
fn names_come_from_the_prompt_and_collisions_get_a_suffix() {
    let env = TestEnv::new();
    let script = env.script("n", "print x");
    let new = |prompt: &str| {
        env.agent(&[
            "new",
            prompt,
            "--",
            "fake-agent",
            "--script",
            script.to_str().unwrap(),
        ])
        .ok()
    };
    new("Fix the flaky login test");
    new("fix the flaky LOGIN thing");
    assert!(env.has_record("fix-flaky-login"));
    assert!(env.has_record("fix-flaky-login-2"));
    assert_eq!(
        env.record("fix-flaky-login-2")["branch"],
        "agent/fix-flaky-login-2"
    );

    // A branch of the same name (made by someone else) also counts as taken.
    env.git(&["branch", "agent/update-docs"]);
    new("update the docs");
    assert!(env.has_record("update-docs-2"));

    // An explicit name that is taken is an error, not silently changed.
    let out = env
        .agent(&["new", "--name", "fix-flaky-login", "t", "--", "fake-agent"])
        .code(128);
    assert!(
        out.stderr
            .starts_with("fatal: a session named 'fix-flaky-login' already exists\n"),
        "{out}"
    );
    assert!(out.stderr.contains("hint: choose another --name"), "{out}");
}

#[test]
fn n_variants_share_a_group() {
    let env = TestEnv::new();
    let out = env.spawn(
        &["-n", "3", "--name", "speed", "speed up the parser"],
        "print x",
    );
    assert!(
        out.stdout.contains("Started speed-1") && out.stdout.contains("Started speed-3"),
        "{out}"
    );
    for i in 1..=3 {
        let r = env.record(&format!("speed-{i}"));
        assert_eq!(r["group"]["id"], "speed");
        assert_eq!(r["group"]["index"], i);
        assert_eq!(r["group"]["count"], 3);
        assert_eq!(r["branch"], format!("agent/speed-{i}"));
        let call = env.call_of(&format!("speed-{i}"));
        assert_eq!(call["env"]["GIT_AGENT_GROUP"], "speed");
        assert_eq!(call["env"]["GIT_AGENT_VARIANT"], i.to_string());
    }
    let porcelain = env
        .agent(&[
            "new",
            "-n",
            "2",
            "--porcelain",
            "--name",
            "p",
            "t",
            "--",
            "fake-agent",
        ])
        .ok();
    assert_eq!(
        porcelain.stdout,
        format!(
            "{}\n{}\n",
            env.agents_dir().join("p-1").display(),
            env.agents_dir().join("p-2").display()
        )
    );
    let out = env
        .agent(&["new", "-n", "2", "--branch", "one", "t", "--", "fake-agent"])
        .code(2);
    assert!(out.stderr.contains("--branch names one branch"), "{out}");
    env.agent(&["new", "-n", "33", "t", "--", "fake-agent"])
        .code(2);
}

#[test]
fn one_variant_per_profile_with_counts() {
    let mut env = TestEnv::new();
    env.install_fake("claude");
    env.install_fake("codex");
    let script = env.script("p", "print x");
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&["new", "--agent", "claude,codex", "--name", "cmp", "compare"])
        .ok();
    assert_eq!(env.record("cmp-1")["agent"]["profile"], "claude");
    assert_eq!(env.record("cmp-2")["agent"]["profile"], "codex");
    env.agent(&["new", "--agent", "claude:2,codex", "--name", "mix", "mix"])
        .ok();
    let profiles: Vec<String> = (1..=3)
        .map(|i| {
            env.record(&format!("mix-{i}"))["agent"]["profile"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(profiles, ["claude", "claude", "codex"]);
    env.agent(&["new", "-n", "2", "--agent", "codex", "--name", "two", "t"])
        .ok();
    assert!(env.has_record("two-2") && !env.has_record("two-3"));
    let out = env.agent(&["new", "--agent", "claude:0", "t"]).code(2);
    assert!(
        out.stderr.contains("invalid --agent value 'claude:0'"),
        "{out}"
    );
}

#[test]
fn branch_names_can_be_chosen() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "x", "--branch", "feature/login", "t"],
        "print x",
    );
    assert_eq!(env.record("x")["branch"], "feature/login");
    assert!(
        env.agents_dir().join("x").is_dir(),
        "the directory is named after the session"
    );
    env.git(&["config", "agent.branchPrefix", "bots/"]);
    env.spawn(&["--name", "y", "t"], "print x");
    assert_eq!(env.record("y")["branch"], "bots/y");
    let out = env
        .agent(&[
            "new",
            "--name",
            "z",
            "--branch",
            "main",
            "t",
            "--",
            "fake-agent",
        ])
        .code(128);
    assert!(
        out.stderr.starts_with(&format!(
            "fatal: branch 'main' is checked out at '{}'",
            env.repo.display()
        )),
        "{out}"
    );
}
