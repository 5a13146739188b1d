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

/// A NAME that climbs out of `sessions/`: `<common-dir>/agent/sessions/../../../package.json`
/// is the user's tracked `package.json`.
const ESCAPING: &str = "../../../package";

/// Every NAME argument of every command of the three binaries is checked before anything
/// turns it into a path: refused as a usage error, in git's voice, and the user's file stays.
#[test]
fn every_command_refuses_a_name_that_leaves_the_state_folder() {
    let env = TestEnv::new();
    env.write("package.json", "{ \"name\": \"mine\" }\n");
    env.git(&["add", "package.json"]);
    env.git(&["commit", "-q", "-m", "package"]);
    env.spawn(&["--name", "ok", "t"], "print x");
    env.wait_state("ok", "done");
    let commands: &[&[&str]] = &[
        &["show", ESCAPING],
        &["logs", ESCAPING],
        &["rm", ESCAPING],
        &["rm", "--force", ESCAPING],
        &["send", ESCAPING, "do more"],
        &["resume", ESCAPING],
        &["stop", ESCAPING],
        &["wait", ESCAPING],
        &["run", ESCAPING, "--", "true"],
        &["exec", ESCAPING, "--", "true"],
        &["path", ESCAPING],
        &["events", ESCAPING],
        &["notify", "waiting", "--session", ESCAPING],
        &["new", "--name", ESCAPING, "t", "--", "fake-agent"],
        &["merge", ESCAPING],
        &["merge", "--all", "--group", ESCAPING],
        &["conflicts", ESCAPING],
        &["sync", ESCAPING],
        &["review", ESCAPING],
        &["review", "ok", "--against", ESCAPING],
        &["review", "--group", ESCAPING],
    ];
    for args in commands {
        let out = env.agent(args).code(2);
        assert!(
            out.stderr.starts_with(&format!(
                "error: invalid session name '{ESCAPING}': it starts with '.'\n"
            )),
            "{args:?}: {out}"
        );
        assert!(out.stderr.contains("hint: names use letters"), "{out}");
        assert_eq!(
            std::fs::read_to_string(env.repo.join("package.json")).unwrap(),
            "{ \"name\": \"mine\" }\n",
            "{args:?} touched the user's file"
        );
    }
    // A name from the environment is checked where the state folder is used.
    let mut cmd = env.command("git", &env.repo);
    cmd.args(["agent", "notify", "waiting"])
        .env("GIT_AGENT_NAME", ESCAPING);
    let out = env.run(cmd).code(2);
    assert!(out.stderr.contains("invalid session name"), "{out}");
    assert_eq!(env.git(&["status", "--porcelain"]), "");
    let quarantine = env.state_dir().join("quarantine");
    assert!(
        std::fs::read_dir(&quarantine).map_or(true, |mut d| d.next().is_none()),
        "nothing was quarantined"
    );
    env.agent(&["show", "ok"]).ok();
}

/// `<name>.json` is a record and `<name>/` a session's folder: a name ending in `.json` would
/// make one the other's.
#[test]
fn a_name_ending_in_json_is_refused() {
    let env = TestEnv::new();
    for name in ["v1.json", "v1.JSON"] {
        let out = env
            .agent(&["new", "--name", name, "t", "--", "fake-agent"])
            .code(2);
        assert!(
            out.stderr.starts_with(&format!(
                "error: invalid session name '{name}': it ends with '.json'\n"
            )),
            "{out}"
        );
    }
    assert!(env.git(&["branch", "--list", "agent/*"]).is_empty());
    env.spawn(&["--name", "v1", "t"], "print x");
    env.wait_state("v1", "done");
    env.agent(&["list"]).ok();
}

/// What is in `sessions/` but is not a record of ours (a folder `v1.json/`, a file whose name
/// is no session name) is reported and left alone: `list`, `clean` and `doctor` keep working.
#[test]
fn a_stray_entry_in_the_sessions_folder_is_reported_and_left_alone() {
    let env = TestEnv::new();
    env.spawn(&["--name", "ok", "t"], "print x");
    env.wait_state("ok", "done");
    let sessions = env.state_dir().join("sessions");
    std::fs::create_dir_all(sessions.join("v1.json/inside")).unwrap();
    std::fs::write(sessions.join("not a name.json"), "not json").unwrap();

    let list = env.agent(&["list"]).ok();
    assert!(list.stdout.contains("ok"), "{list}");
    assert!(
        list.stderr.contains(
            "warning: sessions/v1.json is not a session record (it is a folder); left it alone"
        ),
        "{list}"
    );
    assert!(
        list.stderr
            .contains("sessions/not a name.json is not a session record"),
        "{list}"
    );
    let plan = env.agent(&["clean", "--dry-run"]).ok();
    assert!(plan.stdout.contains("ok"), "{plan}");
    let doctor = env.agent(&["doctor"]);
    assert!(
        doctor
            .stdout
            .contains("sessions/v1.json is not a session record"),
        "{doctor}"
    );
    assert!(!doctor.stderr.contains("Is a directory"), "{doctor}");
    env.agent(&["doctor", "--fix"]);
    env.agent(&["clean", "--all", "--yes"]).ok();
    assert!(sessions.join("v1.json/inside").is_dir(), "left alone");
    assert_eq!(
        std::fs::read_to_string(sessions.join("not a name.json")).unwrap(),
        "not json",
        "left alone, not quarantined"
    );
}
