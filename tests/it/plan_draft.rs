//! `git agent plan draft`: an agent, in its read-only mode, answers a goal with a plan that is
//! written, checked and shown; nothing runs and the user's checkout is not changed.

use crate::support::TestEnv;

/// A plan of two tasks, as the fake agent says it (`\n` is a newline in its script).
const PLAN: &str = r#"Here is the plan:\n\n```toml\nname = "greeting"\n\n[[task]]\nid = "hello"\nprompt = "Write hello.txt"\ntouches = ["hello.txt"]\n\n[[task]]\nid = "docs"\ndepends_on = ["hello"]\nprompt = "Document it: {{ deps }}"\ntouches = ["README.md"]\n```\n\nRun it when ready."#;

/// A repository with the fake agent installed as `cli`, playing `script`.
fn env_with(cli: &str, script: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.install_fake(cli);
    let path = env.script("planner", script);
    env.set_env("GIT_AGENT_TEST_SCRIPT", path.to_str().unwrap());
    env
}

/// The value after `flag` in an argv.
fn after<'a>(argv: &'a [String], flag: &str) -> Option<&'a str> {
    argv.iter()
        .position(|a| a == flag)
        .and_then(|i| argv.get(i + 1))
        .map(String::as_str)
}

fn argv(call: &serde_json::Value) -> Vec<String> {
    call["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// Nothing started: no session, no plan record, no `plan/*` branch, HEAD where it was.
#[track_caller]
fn nothing_ran(env: &TestEnv, head: &str) {
    let sessions = env.state_dir().join("sessions");
    assert!(
        std::fs::read_dir(&sessions).map_or(true, |mut d| d.next().is_none()),
        "a session was created"
    );
    assert!(
        !env.state_dir().join("plans").exists(),
        "a plan was recorded"
    );
    assert_eq!(env.git(&["branch", "--list", "plan/*", "agent/*"]), "");
    assert_eq!(env.git(&["rev-parse", "HEAD"]), head);
}

#[test]
fn drafts_a_plan_read_only_checks_it_and_runs_nothing() {
    let script =
        format!("tool Read README.md\ntry-write $GIT_AGENT_REPO/escaped.txt escaped\nsay {PLAN}\n");
    let env = env_with("claude", &script);
    // The user's own uncommitted work, which must stay as it is.
    env.write("README.md", "hello\nmy edit\n");
    env.write("notes.txt", "mine\n");
    let head = env.git(&["rev-parse", "HEAD"]);
    let status = env.git(&["status", "--porcelain"]);

    let out = env.agent(&["plan", "draft", "Greet", "the world"]).ok();
    assert!(
        out.stdout
            .contains("Wrote the plan to plans/greeting.toml."),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("Plan 'greeting' is valid: 2 tasks in 2 waves"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("wave 1: hello\nwave 2: docs (after hello)"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("run it with: git agent plan run plans/greeting.toml"),
        "{out}"
    );
    assert!(
        out.stderr.contains("Asking claude (plan) for a plan"),
        "{out}"
    );
    assert!(out.stderr.contains("  Read README.md"), "progress: {out}");
    let written = std::fs::read_to_string(env.repo.join("plans/greeting.toml")).unwrap();
    assert!(written.starts_with("name = \"greeting\"\n"), "{written}");
    assert!(
        written.contains("prompt = \"Document it: {{ deps }}\""),
        "{written}"
    );
    assert!(!written.contains("```"), "{written}");

    // The agent ran once, in this worktree, in claude's read-only mode, asked for the goal
    // in the plan format.
    let calls = env.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let argv = argv(&calls[0]);
    assert_eq!(after(&argv, "--permission-mode"), Some("plan"), "{argv:?}");
    assert_eq!(calls[0]["cwd"], env.repo.to_str().unwrap());
    let prompt = after(&argv, "-p").unwrap();
    for needle in [
        "Greet the world",
        "[[task]]",
        "depends_on",
        "touches",
        "{{ deps }}",
        "never run at the same time",
        "exactly one ```toml fenced block",
    ] {
        assert!(
            prompt.contains(needle),
            "{needle:?} not in the prompt:\n{prompt}"
        );
    }

    nothing_ran(&env, &head);
    // The checkout holds what it held, and the plan file.
    assert_eq!(
        env.git(&["status", "--porcelain"]),
        format!("{status}?? plans/\n"),
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "hello\nmy edit\n"
    );
    if out.stderr.contains("sandbox: landlock") {
        assert!(
            !env.repo.join("escaped.txt").exists(),
            "the planner wrote into the checkout"
        );
    } else {
        eprintln!("skipped the write check: no Landlock here ({})", out.stderr);
    }
}

#[test]
fn each_builtin_drafts_in_its_read_only_mode() {
    for (cli, flag, value) in [
        ("codex", "--sandbox", "read-only"),
        ("gemini", "--approval-mode", "plan"),
        ("aider", "--chat-mode", "ask"),
        ("opencode", "", ""),
    ] {
        let env = env_with(cli, &format!("say {PLAN}\n"));
        let out = env.agent(&["plan", "draft", "--agent", cli, "Greet the world"]);
        assert_eq!(out.code, 0, "{cli}: {out}");
        assert!(
            out.stdout.contains("Plan 'greeting' is valid"),
            "{cli}: {out}"
        );
        let call = &env.calls()[0];
        let argv = argv(call);
        if cli == "opencode" {
            assert_eq!(
                call["env"]["OPENCODE_PERMISSION"], r#"{"edit":"deny","bash":"deny"}"#,
                "{call}"
            );
            assert!(
                call["stdin"].as_str().unwrap().contains("Greet the world"),
                "{call}"
            );
        } else {
            assert_eq!(after(&argv, flag), Some(value), "{cli}: {argv:?}");
        }
        if cli == "aider" {
            assert!(argv.contains(&"--no-auto-commits".to_owned()), "{argv:?}");
        }
    }
}

#[test]
fn an_invalid_drafted_plan_is_kept_and_exits_1() {
    let plan = r#"```toml\nname = "broken"\n\n[[task]]\nid = "a"\nprompt = "Do a"\ndepends_on = ["nowhere"]\n```"#;
    let env = env_with("claude", &format!("say {plan}\n"));
    let head = env.git(&["rev-parse", "HEAD"]);
    let out = env.agent(&["plan", "draft", "Break it"]).code(1);
    assert!(
        out.stdout.contains("Wrote the plan to plans/broken.toml."),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("error: plans/broken.toml:6: task 'a': ")
            && out.stderr.contains("nowhere"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("the drafted plan plans/broken.toml has 1 problem; it is kept"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: edit it, then: git agent plan check plans/broken.toml"),
        "{out}"
    );
    assert!(env.repo.join("plans/broken.toml").exists());
    nothing_ran(&env, &head);

    // Not even a plan file's TOML: the parse error is the problem, the file is kept.
    let env = env_with(
        "claude",
        "say ```toml\\nname = \"typo\"\\npromt = 1\\n```\n",
    );
    let out = env
        .agent(&["plan", "draft", "-o", "typo.toml", "Typo"])
        .code(1);
    assert!(
        out.stderr.contains("error: typo.toml:2: unknown field"),
        "{out}"
    );
    assert!(env.repo.join("typo.toml").exists());
}

#[test]
fn an_agent_that_fails_or_gives_no_plan_exits_128_and_writes_nothing() {
    let env = env_with("claude", "say I cannot plan this without more detail.\n");
    let out = env.agent(&["plan", "draft", "Something vague"]).code(128);
    assert!(out.stderr.contains("fatal: claude gave no plan"), "{out}");
    assert!(
        out.stderr
            .contains("  I cannot plan this without more detail."),
        "{out}"
    );
    assert!(!env.repo.join("plans").exists());
    assert_eq!(env.git(&["status", "--porcelain"]), "");

    let env = env_with("claude", "fail the model is overloaded\n");
    let out = env.agent(&["plan", "draft", "Anything"]).code(128);
    assert!(
        out.stderr.contains("fatal: claude failed: ")
            && out.stderr.contains("the model is overloaded"),
        "{out}"
    );
    assert!(!env.repo.join("plans").exists());
}

#[test]
fn an_existing_plan_file_is_never_written_over_without_force() {
    let env = env_with("claude", &format!("say {PLAN}\n"));
    env.write("mine.toml", "keep me\n");
    let out = env
        .agent(&["plan", "draft", "-o", "mine.toml", "Greet"])
        .code(128);
    assert!(
        out.stderr.contains("fatal: mine.toml already exists"),
        "{out}"
    );
    assert!(out.stderr.contains("--force"), "{out}");
    assert!(env.calls().is_empty(), "the agent ran for nothing");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("mine.toml")).unwrap(),
        "keep me\n"
    );

    env.agent(&["plan", "draft", "-o", "mine.toml", "--force", "Greet"])
        .ok();
    assert!(
        std::fs::read_to_string(env.repo.join("mine.toml"))
            .unwrap()
            .starts_with("name = \"greeting\""),
    );

    // The default file taken: the next free name, the earlier plan untouched.
    env.write("plans/greeting.toml", "earlier\n");
    let out = env.agent(&["plan", "draft", "Greet"]).ok();
    assert!(
        out.stdout
            .contains("Wrote the plan to plans/greeting-2.toml."),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("plans/greeting.toml")).unwrap(),
        "earlier\n"
    );
}

#[test]
fn a_profile_without_a_read_only_mode_is_refused_unless_a_mode_is_named() {
    let env = env_with("claude", &format!("say {PLAN}\n"));
    env.git(&["config", "agent.profile.mine.command", "fake-agent"]);
    let out = env
        .agent(&["plan", "draft", "--agent", "mine", "Greet"])
        .code(128);
    assert!(
        out.stderr
            .contains("fatal: profile 'mine' has no read-only permission mode"),
        "{out}"
    );
    assert!(
        out.stderr.contains("hint: use a profile that has one"),
        "{out}"
    );
    assert!(out.stderr.contains("--permission-mode MODE"), "{out}");
    assert!(env.calls().is_empty(), "it ran");

    // A built-in whose command line the user replaced loses its modes, and is refused too.
    env.git(&["config", "agent.profile.claude.command", "fake-agent"]);
    let out = env.agent(&["plan", "draft", "Greet"]).code(128);
    assert!(
        out.stderr
            .contains("fatal: profile 'claude' has no read-only permission mode"),
        "{out}"
    );
    assert!(env.calls().is_empty(), "it ran");

    // Named by the user, the mode is theirs: it runs, with a warning.
    let out = env
        .agent(&[
            "plan",
            "draft",
            "--agent",
            "mine",
            "--permission-mode",
            "trusted",
            "Greet",
        ])
        .ok();
    assert!(
        out.stderr
            .contains("warning: 'trusted' is not a read-only mode of mine"),
        "{out}"
    );
    assert!(out.stdout.contains("Plan 'greeting' is valid"), "{out}");
}
