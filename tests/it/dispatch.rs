//! `git agent` as a git subcommand: dispatch, exit codes, help, plugins, `git -c`.

use crate::support::TestEnv;

#[test]
fn git_finds_us_and_passes_exit_codes_through() {
    let env = TestEnv::new();
    let cmds = env.git(&["--list-cmds=others"]);
    assert!(cmds.lines().any(|l| l == "agent"), "{cmds}");
    env.agent(&["list"]).ok();
    env.agent(&["show", "missing"]).code(128);
    env.spawn(&["--name", "f", "t"], "exit 4");
    env.agent(&["wait", "f"]).code(1);
    // The same through the binary directly.
    env.agent_direct(&env.repo, &["wait", "f"]).code(1);
    let usage = env.agent(&[]).code(2);
    assert!(usage.stderr.contains("Usage: git agent"), "{usage}");
    let bad_flag = env.agent(&["list", "--nope"]).code(2);
    assert!(
        bad_flag.stderr.contains("unexpected argument '--nope'"),
        "{bad_flag}"
    );
}

#[test]
fn help_lists_commands_and_plugins() {
    let env = TestEnv::new();
    let plugin = env.bin.join("git-agent-hello");
    std::fs::write(&plugin, "#!/bin/sh\necho \"hello $*\"\nexit 7\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();

    let help = env.agent(&["help"]).ok();
    for verb in ["new", "list", "show", "logs", "stop", "wait", "demo"] {
        assert!(
            help.stdout.contains(&format!("  {verb}")),
            "{verb} missing from help:\n{help}"
        );
    }
    assert!(!help.stdout.contains("__supervise"), "{help}");
    assert!(
        help.stdout.contains("Plugins:") && help.stdout.contains("hello"),
        "{help}"
    );
    let merge_line = help
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("merge "))
        .unwrap();
    assert!(merge_line.ends_with("(also: conflicts, sync)"), "{help}");
    let new_help = env.agent(&["help", "new"]).ok();
    assert!(
        new_help.stdout.contains("Usage: git agent new"),
        "{new_help}"
    );

    let out = env.agent(&["hello", "a", "b"]).code(7);
    assert_eq!(out.stdout, "hello a b\n");

    let out = env.agent(&["lst"]).code(2);
    assert!(
        out.stderr.contains("'lst' is not a git agent command"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: the most similar command is 'list'"),
        "{out}"
    );
}

#[test]
fn git_dash_c_overrides_config() {
    let env = TestEnv::new();
    let mut cmd = env.command("git", &env.repo);
    let script = env.script("c", "write left.txt uncommitted");
    cmd.args([
        "-c",
        "agent.autoCommit=false",
        "agent",
        "new",
        "--name",
        "nc",
        "t",
        "--",
        "fake-agent",
        "--script",
    ])
    .arg(&script);
    env.run(cmd).ok();
    env.wait_state("nc", "done");
    assert_eq!(env.record("nc")["auto_commit"], false);
    assert_eq!(env.record("nc")["commit"]["status"], "disabled");
    let wt = env.agents_dir().join("nc");
    assert!(
        env.git_in(&wt, &["status", "--porcelain"])
            .contains("?? left.txt")
    );
}

#[test]
fn the_demo_runs_on_a_throw_away_repository() {
    let env = TestEnv::empty();
    let dir = env.root().join("demo");
    let out = env
        .agent_direct(&env.root(), &["demo", "--dir", dir.to_str().unwrap()])
        .ok();
    for expected in [
        "$ git agent new --name readme",
        "Started greeting-2",
        "broken: failed (exit 3)",
        "readme: done (exit 0)",
        "error: config.yml not found",
        "Make the greeting friendlier (Good to see you)",
        "Git-Agent-Session: readme",
        "greeting-1 × greeting-2: greet.sh",
        "Merged greeting-1 into main (squash)",
        "Discarded greeting-2",
        "Merged readme into main (squash)",
    ] {
        assert!(
            out.stdout.contains(expected) || out.stderr.contains(expected),
            "missing {expected:?}:\n{out}"
        );
    }
    let json = env
        .agent_in(&dir.join("greet"), &["list", "--json"])
        .ok()
        .json();
    // Only the failed one is left; the others were merged or discarded.
    assert_eq!(json["sessions"].as_array().unwrap().len(), 1, "{json:#}");
    assert_eq!(json["sessions"][0]["name"], "broken");
    let log = env.git_in(&dir.join("greet"), &["log", "--format=%s", "main"]);
    assert_eq!(
        log,
        "add a usage section to the README\nmake the greeting friendlier\nInitial version\n"
    );
    let again = env
        .agent_direct(&env.root(), &["demo", "--dir", dir.to_str().unwrap()])
        .code(128);
    assert!(again.stderr.contains("already exists"), "{again}");
}
