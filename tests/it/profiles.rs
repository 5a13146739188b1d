//! Agent profiles: built-ins, config profiles, commands after `--`, default detection.

use crate::support::{TestEnv, args_of};

#[test]
fn builtin_profiles_run_headless() {
    let mut env = TestEnv::new();
    let script = env.script("noop", "print ok");
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    let expected: &[(&str, &[&str], &str)] = &[
        (
            "claude",
            &[
                "-p",
                "TASK",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-mode",
                "acceptEdits",
            ],
            "",
        ),
        // Codex's own sandbox, narrowed: not all of /tmp and $TMPDIR, only its own TMPDIR
        // (`$TMPDIR` here stands for that folder).
        (
            "codex",
            &[
                "exec",
                "-c",
                "sandbox_workspace_write.exclude_slash_tmp=true",
                "-c",
                "sandbox_workspace_write.exclude_tmpdir_env_var=true",
                "-c",
                "sandbox_workspace_write.writable_roots=[\"$TMPDIR\"]",
                "--json",
                "--skip-git-repo-check",
                "--sandbox",
                "workspace-write",
                "TASK",
            ],
            "",
        ),
        (
            "gemini",
            &[
                "-p",
                "TASK",
                "--output-format",
                "stream-json",
                "--approval-mode",
                "auto_edit",
                "--skip-trust",
            ],
            "",
        ),
        // The prompt on stdin: as an argument opencode hands it to the model in quotes.
        ("opencode", &["run", "--format", "json"], "TASK\n"),
        (
            "aider",
            &[
                "--message",
                "TASK",
                "--yes-always",
                "--no-pretty",
                "--no-fancy-input",
                "--no-check-update",
                "--no-show-release-notes",
                "--analytics-disable",
                "--no-gitignore",
            ],
            "",
        ),
    ];
    for (profile, argv, stdin) in expected {
        env.install_fake(profile);
        env.agent(&["new", "--agent", profile, "--name", profile, "TASK"])
            .ok();
        let call = env.call_of(profile);
        let tmp = call["env"]["TMPDIR"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let args: Vec<String> = args_of(&call)
            .into_iter()
            .map(|a| {
                if tmp.is_empty() {
                    a
                } else {
                    a.replace(&tmp, "$TMPDIR")
                }
            })
            .collect();
        assert_eq!(args, *argv, "{profile}");
        assert_eq!(call["stdin"], *stdin, "{profile}: stdin");
        assert_eq!(env.record(profile)["agent"]["source"], "builtin");
    }
    assert_eq!(
        env.call_of("opencode")["env"]["OPENCODE_PERMISSION"],
        r#"{"bash":"deny"}"#
    );
    let show = env.agent(&["show", "claude"]).ok();
    assert!(
        show.stdout
            .contains("claude (built-in profile, permission mode acceptEdits)"),
        "{show}"
    );
}

#[test]
fn default_profile_is_configured_or_detected() {
    let mut env = TestEnv::new();
    let script = env.script("noop", "print ok");
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.install_fake("aider");
    env.install_fake("gemini");
    env.agent(&["new", "--name", "d1", "t"]).ok();
    assert_eq!(
        env.record("d1")["agent"]["profile"],
        "gemini",
        "gemini comes before aider"
    );
    env.git(&["config", "agent.default", "aider"]);
    env.agent(&["new", "--name", "d2", "t"]).ok();
    assert_eq!(env.record("d2")["agent"]["profile"], "aider");
}

#[test]
fn profiles_from_git_config() {
    let env = TestEnv::new();
    let script = env.script("cfg", "print configured");
    env.git(&[
        "config",
        "agent.profile.mine.command",
        &format!("fake-agent --script '{}'", script.display()),
    ]);
    env.git(&["config", "--add", "agent.profile.mine.arg", "--model"]);
    env.git(&["config", "--add", "agent.profile.mine.arg", "fast one"]);
    env.git(&[
        "config",
        "--add",
        "agent.profile.mine.env",
        "MY_TOKEN=abc=def",
    ]);
    env.git(&["config", "agent.profile.mine.permissionMode", "bypass"]);
    env.agent(&["new", "--agent", "mine", "--name", "m", "the task"])
        .ok();
    let call = env.call_of("m");
    assert_eq!(
        args_of(&call),
        [
            "--script",
            script.to_str().unwrap(),
            "--model",
            "fast one",
            "the task"
        ]
    );
    assert_eq!(call["env"]["MY_TOKEN"], "abc=def");
    assert_eq!(env.record("m")["agent"]["source"], "config");
    assert_eq!(env.record("m")["agent"]["permission_mode"], "bypass");

    // The prompt on stdin, and as a file argument.
    env.git(&["config", "agent.profile.viastdin.command", "fake-agent"]);
    env.git(&["config", "agent.profile.viastdin.prompt", "stdin"]);
    env.agent(&["new", "--agent", "viastdin", "--name", "s", "fed on stdin"])
        .ok();
    let call = env.call_of("s");
    assert_eq!(call["stdin"], "fed on stdin\n");
    assert!(args_of(&call).is_empty());

    env.git(&[
        "config",
        "agent.profile.byfile.command",
        "fake-agent --task {prompt_file}",
    ]);
    env.agent(&["new", "--agent", "byfile", "--name", "f", "from a file"])
        .ok();
    let call = env.call_of("f");
    let args = args_of(&call);
    assert_eq!(args[0], "--task");
    assert_eq!(std::fs::read_to_string(&args[1]).unwrap(), "from a file\n");
    assert_eq!(args[2], "from a file");

    // A config profile overrides the built-in of the same name.
    env.git(&[
        "config",
        "agent.profile.claude.command",
        "fake-agent --pretend",
    ]);
    env.agent(&["new", "--agent", "claude", "--name", "c", "t"])
        .ok();
    assert_eq!(args_of(&env.call_of("c")), ["--pretend", "t"]);

    env.git(&["config", "agent.profile.broken.prompt", "carrier-pigeon"]);
    env.git(&["config", "agent.profile.broken.command", "fake-agent"]);
    let out = env.agent(&["new", "--agent", "broken", "t"]).code(128);
    assert!(
        out.stderr.contains("bad config value 'carrier-pigeon'"),
        "{out}"
    );
}

#[test]
fn any_command_after_double_dash() {
    let env = TestEnv::new();
    let helper = env.repo.join("tools/agent.sh");
    std::fs::create_dir_all(helper.parent().unwrap()).unwrap();
    std::fs::write(
        &helper,
        "#!/bin/sh\necho \"args: $*\"\necho \"prompt: $GIT_AGENT_PROMPT\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A relative program path is relative to where the user typed it.
    env.agent_in(
        &env.repo.join("tools"),
        &[
            "new",
            "--name",
            "sh",
            "do; rm -rf /",
            "--",
            "./agent.sh",
            "$HOME",
            "a b",
        ],
    )
    .ok();
    env.wait_state("sh", "done");
    let logs = env.agent(&["logs", "sh"]).ok();
    assert_eq!(
        logs.stdout, "args: $HOME a b\nprompt: do; rm -rf /\n",
        "no shell in between"
    );
    assert_eq!(
        env.record("sh")["agent"]["program"],
        helper.to_str().unwrap()
    );
    // Without a prompt, the name comes from the program.
    env.agent(&["new", "--", "fake-agent"]).ok();
    assert!(env.has_record("fake-agent"));
}

#[test]
fn profiles_lists_sources_programs_and_modes() {
    let env = TestEnv::new();
    env.install_fake("codex");
    env.git(&["config", "agent.profile.mine.command", "fake-agent --x"]);
    env.git(&["config", "agent.default", "codex"]);
    let json = env.agent(&["profiles", "--json"]).ok().json();
    let profiles = json["profiles"].as_array().unwrap();
    let names: Vec<&str> = profiles
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["claude", "codex", "gemini", "opencode", "aider", "mine"]
    );
    let codex = &profiles[1];
    assert!(codex["found"].as_str().unwrap().ends_with("/bin/codex"));
    assert_eq!(codex["default"], true);
    assert_eq!(codex["permission_mode"], "workspace-write");
    assert_eq!(codex["modes"].as_array().unwrap().len(), 3);
    assert!(
        profiles[0]["found"].is_null(),
        "claude is not installed here"
    );
    assert_eq!(profiles[5]["source"], "config");
    let human = env.agent(&["profiles"]).ok();
    assert!(human.stdout.contains("codex *"), "{human}");
    assert!(human.stdout.contains("claude (not found)"), "{human}");
    assert!(
        human
            .stdout
            .contains("bypass           runs any command and writes anywhere"),
        "{human}"
    );
}
