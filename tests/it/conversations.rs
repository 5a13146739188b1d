//! Real-agent plumbing with the fake agent speaking each CLI's format: session ids, results
//! and cost, `send` resuming the agent's own conversation, queued follow-ups, `notify`.

use crate::support::{TestEnv, args_of};

fn with_fake(profile: &str, script: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.install_fake(profile);
    let path = env.script("agent", script);
    env.set_env("GIT_AGENT_TEST_SCRIPT", path.to_str().unwrap());
    env
}

#[test]
fn claude_session_result_cost_and_resume() {
    let env = with_fake(
        "claude",
        "say Looking at it\ntool Bash ls -la\nwrite fix-$GIT_AGENT_RUN.txt fixed\nsay All done",
    );
    env.agent(&["new", "--agent", "claude", "--name", "c", "fix it"])
        .ok();
    env.wait_state("c", "done");
    let r = env.record("c");
    let session_id = r["agent_session_id"].as_str().unwrap().to_owned();
    assert!(session_id.starts_with("fake-session-"));
    assert_eq!(r["runs"][0]["outcome"]["ok"], true);
    assert_eq!(r["runs"][0]["outcome"]["result"], "Done.");
    assert_eq!(r["runs"][0]["outcome"]["usage"]["cost_usd"], 0.01);

    let list = env.agent(&["list"]).ok();
    let line = list.stdout.lines().find(|l| l.starts_with("c ")).unwrap();
    assert!(line.contains("$0.010") && line.contains("Done."), "{list}");

    // The log reads as text; --raw is the JSON the agent printed.
    let logs = env.agent(&["logs", "c"]).ok();
    assert_eq!(logs.stdout, "Looking at it\n  > Bash ls -la\nAll done\n");
    let raw = env.agent(&["logs", "--raw", "c"]).ok();
    assert!(
        raw.stdout.starts_with("{\"session_id\":") || raw.stdout.contains("\"type\":\"system\""),
        "{raw}"
    );

    // A follow-up resumes the same conversation in the same worktree.
    let out = env.agent(&["send", "c", "now", "add", "a", "test"]).ok();
    assert!(
        out.stdout.contains(&format!(
            "run 2, resuming claude's session {}",
            &session_id[..7]
        )),
        "{out}"
    );
    env.wait_state("c", "done");
    let calls = env.calls_of("c");
    assert_eq!(calls.len(), 2);
    let resume = args_of(&calls[1]);
    assert_eq!(
        &resume[..4],
        ["-p", "now add a test", "--resume", session_id.as_str()]
    );
    assert_eq!(calls[1]["cwd"], calls[0]["cwd"]);
    assert_eq!(calls[1]["env"]["GIT_AGENT_RUN"], "2");
    assert_eq!(calls[1]["env"]["GIT_AGENT_PROMPT"], "now add a test");
    assert_eq!(calls[1]["env"]["GIT_AGENT_TASK"], "fix it");
    let r = env.record("c");
    assert_eq!(r["runs"].as_array().unwrap().len(), 2);
    assert_eq!(r["runs"][1]["kind"], "send");
    assert_eq!(r["runs"][1]["resumed"], true);
    assert_eq!(r["agent_session_id"], session_id.as_str());
    // Both runs' leftovers were committed; the log marks the runs.
    assert_eq!(
        env.git(&["log", "--format=%s", "main..agent/c"])
            .lines()
            .count(),
        2
    );
    let logs = env.agent(&["logs", "c"]).ok();
    assert!(
        logs.stdout
            .contains("── run 1 (task): fix it ──\nLooking at it"),
        "{logs}"
    );
    assert!(
        logs.stdout
            .contains("── run 2 (follow-up): now add a test ──"),
        "{logs}"
    );
    let show = env.agent(&["show", "c"]).ok();
    assert!(
        show.stdout
            .contains("2 turns, 200 tokens in, 20 out, $0.020"),
        "{show}"
    );
    assert!(
        show.stdout.contains("    Looking at it\n") && !show.stdout.contains("\"type\""),
        "{show}"
    );
}

#[test]
fn each_cli_resumes_its_own_way() {
    type Check = fn(&[String], &str) -> bool;
    let cases: &[(&str, Check)] = &[
        ("codex", |a, id| {
            a.windows(4)
                .any(|w| w == ["workspace-write", "resume", id, "more"])
        }),
        ("gemini", |a, id| {
            a.windows(2).any(|w| w == ["--resume", id])
        }),
        ("opencode", |a, id| {
            a.windows(2).any(|w| w == ["--session", id])
        }),
        ("aider", |a, _| {
            a.contains(&"--restore-chat-history".to_owned())
                && a.windows(2).any(|w| w == ["--message", "more"])
        }),
    ];
    for (cli, check) in cases {
        let env = with_fake(cli, "write out.txt x");
        env.agent(&["new", "--agent", cli, "--name", "x", "task"])
            .ok();
        env.wait_state("x", "done");
        let id = env.record("x")["agent_session_id"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert_eq!(id.is_empty(), *cli == "aider", "{cli}: session id {id:?}");
        env.agent(&["send", "x", "more"]).ok();
        env.wait_state("x", "done");
        let calls = env.calls_of("x");
        let args = args_of(&calls[1]);
        assert!(check(&args, &id), "{cli}: {args:?}");
        if *cli == "opencode" {
            assert_eq!(
                calls[1]["stdin"], "more\n",
                "opencode gets the prompt on stdin"
            );
        }
    }
}

#[test]
fn a_command_without_resume_gets_the_task_and_the_message() {
    let env = TestEnv::new();
    env.spawn(&["--name", "cmd", "the original task"], "write a.txt 1");
    env.wait_state("cmd", "done");
    let out = env.agent(&["send", "cmd", "-m", "the follow-up"]).ok();
    assert!(out.stdout.contains("the agent cannot resume"), "{out}");
    env.wait_state("cmd", "done");
    let call = &env.calls_of("cmd")[1];
    assert_eq!(
        call["env"]["GIT_AGENT_PROMPT"],
        "the original task\n\nFollow-up:\nthe follow-up"
    );
    assert_eq!(env.record("cmd")["runs"][1]["resumed"], false);
}

#[test]
fn send_refuses_while_running_and_queues_on_request() {
    let env = TestEnv::new();
    let gate = env.path("gate");
    env.spawn(
        &["--name", "q", "t"],
        &format!("wait-for {}\nwrite step.txt $GIT_AGENT_RUN", gate.display()),
    );
    let out = env.agent(&["send", "q", "more"]).code(128);
    assert!(
        out.stderr
            .starts_with("fatal: the agent of 'q' is still running (running)\n"),
        "{out}"
    );
    assert!(out.stderr.contains("--queue"), "{out}");
    let out = env.agent(&["send", "q", "--queue", "-m", "second"]).ok();
    assert!(out.stdout.contains("Queued for q"), "{out}");
    env.agent(&["send", "q", "--queue", "-m", "third"]).ok();
    env.touch("gate");
    env.wait_until("three runs", || {
        let r = env.record("q");
        r["runs"].as_array().unwrap().len() == 3 && r["state"] == "done"
    });
    let r = env.record("q");
    assert_eq!(r["runs"][1]["prompt"], "t\n\nFollow-up:\nsecond");
    assert_eq!(r["runs"][2]["prompt"], "t\n\nFollow-up:\nthird");
    // A stop drops what is queued.
    let gate2 = env.path("gate2");
    env.spawn(
        &["--name", "s", "t"],
        &format!("wait-for {}", gate2.display()),
    );
    env.agent(&["send", "s", "--queue", "never"]).ok();
    env.agent(&["stop", "--grace", "1s", "s"]).ok();
    let r = env.record("s");
    assert_eq!(r["runs"].as_array().unwrap().len(), 1);
    assert!(
        !env.state_dir()
            .join("sessions/s/queue")
            .read_dir()
            .unwrap()
            .any(|_| true)
    );
    env.agent(&["send", "nope", "x"]).code(128);
    env.agent(&["send", "s"]).code(2);
}

#[test]
fn agent_reported_errors_fail_the_run() {
    let env = with_fake("aider", "fail scripted failure: bad request");
    env.agent(&["new", "--agent", "aider", "--name", "a", "t"])
        .ok();
    env.wait_state("a", "failed");
    let r = env.record("a");
    assert_eq!(r["exit"]["code"], 0, "aider exits 0 on API errors");
    assert_eq!(r["reason"], "scripted failure: bad request");
    let env = with_fake("claude", "fail API Error: 400 nope");
    env.agent(&["new", "--agent", "claude", "--name", "c", "t"])
        .ok();
    env.wait_state("c", "failed");
    assert_eq!(env.record("c")["reason"], "exit 1: API Error: 400 nope");
    let wait = env.agent(&["wait", "c"]).code(1);
    assert!(
        wait.stdout
            .contains("c: failed (exit 1: API Error: 400 nope)"),
        "{wait}"
    );
}

#[test]
fn files_the_agent_leaves_are_not_committed() {
    let env = with_fake(
        "aider",
        "write .aider.chat.history.md chat\nwrite .aider.tags.cache.v4/cache.db x\nwrite src/work.rs fn main() {}",
    );
    env.agent(&["new", "--agent", "aider", "--name", "a", "t"])
        .ok();
    env.wait_state("a", "done");
    let files = env.git(&["ls-tree", "-r", "--name-only", "agent/a"]);
    assert!(files.contains("src/work.rs"), "{files}");
    assert!(!files.contains(".aider"), "{files}");
    let json = env.agent(&["list", "--json"]).ok().json();
    assert_eq!(
        json["sessions"][0]["changes"]["uncommitted"], 0,
        "leftover .aider files are not changes"
    );
    assert_eq!(json["sessions"][0]["changes"]["files"], 1);
}

#[test]
fn agents_report_waiting_through_notify_or_the_status_file() {
    let env = TestEnv::new();
    let (g1, g2, g3) = (env.path("g1"), env.path("g2"), env.path("g3"));
    env.spawn(
        &["--name", "w", "t"],
        &format!(
            "notify waiting need an API token\nwait-for {}\nnotify working\nwait-for {}\nstatus {{\"state\":\"waiting\",\"message\":\"via file\"}}\nwait-for {}",
            g1.display(),
            g2.display(),
            g3.display()
        ),
    );
    let state = |env: &TestEnv| env.agent(&["list", "--json"]).ok().json()["sessions"][0].clone();
    env.wait_until("waiting", || state(&env)["state"] == "waiting");
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stdout.lines().any(|l| l.starts_with("w ")
            && l.contains("waiting")
            && l.contains("need an API token")),
        "{list}"
    );
    let show = env.agent(&["show", "w"]).ok();
    assert!(
        show.stdout.contains("reported  waiting: need an API token"),
        "{show}"
    );
    env.touch("g1");
    env.wait_until("working again", || state(&env)["state"] == "running");
    env.touch("g2");
    env.wait_until("waiting via the status file", || {
        state(&env)["status"]["message"] == "via file"
    });
    assert_eq!(state(&env)["state"], "waiting");
    env.touch("g3");
    env.wait_state("w", "done");
    // Late reports about an ended session change nothing and are not errors.
    let mut cmd = env.command("git", &env.agents_dir().join("w"));
    cmd.args(["agent", "notify", "waiting"]);
    env.run(cmd).ok();
    assert_eq!(env.stored_state("w"), "done");
    let out = env.agent(&["notify", "sleeping", "--session", "w"]).code(2);
    assert!(out.stderr.contains("unknown status 'sleeping'"), "{out}");
    let out = env.agent(&["notify", "waiting"]).code(128);
    assert!(
        out.stderr
            .contains("not inside an agent session's worktree"),
        "{out}"
    );
}

#[test]
fn permission_modes_are_explicit_and_bypass_is_visible() {
    let env = with_fake("claude", "write a.txt x");
    env.agent(&[
        "new",
        "--agent",
        "claude",
        "--permission-mode",
        "bypass",
        "--name",
        "b",
        "t",
    ])
    .ok();
    let call = env.call_of("b");
    assert!(args_of(&call).contains(&"--dangerously-skip-permissions".to_owned()));
    env.wait_state("b", "done");
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("b ") && l.contains("claude (bypass)")),
        "{list}"
    );
    let out = env
        .agent(&["new", "--agent", "claude", "--permission-mode", "yolo", "t"])
        .code(128);
    assert!(
        out.stderr
            .contains("'yolo' is not a permission mode of claude"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("modes of claude: acceptEdits, auto, plan, bypass"),
        "{out}"
    );
    // Configured per profile.
    env.git(&["config", "agent.profile.claude.permissionMode", "plan"]);
    env.agent(&["new", "--agent", "claude", "--name", "p", "t"])
        .ok();
    assert!(
        args_of(&env.call_of("p"))
            .windows(2)
            .any(|w| w == ["--permission-mode", "plan"])
    );
    assert_eq!(env.record("p")["agent"]["permission_mode"], "plan");
}

#[test]
fn read_only_runs_each_profile_in_its_mode_that_cannot_edit() {
    let env = with_fake("claude", "say looked around");
    env.install_fake("codex");
    env.agent(&[
        "new",
        "--read-only",
        "--agent",
        "claude",
        "--name",
        "look",
        "t",
    ])
    .ok();
    assert!(
        args_of(&env.call_of("look"))
            .windows(2)
            .any(|w| w == ["--permission-mode", "plan"]),
        "{:?}",
        args_of(&env.call_of("look"))
    );
    assert_eq!(env.record("look")["agent"]["permission_mode"], "plan");
    env.agent(&[
        "new",
        "--read-only",
        "--agent",
        "codex",
        "--name",
        "peek",
        "t",
    ])
    .ok();
    assert_eq!(env.record("peek")["agent"]["permission_mode"], "read-only");
    // Nothing to map for a command, a conflict with an explicit mode, a profile with none.
    let out = env
        .agent(&["new", "--read-only", "t", "--", "sh", "-c", "true"])
        .code(2);
    assert!(
        out.stderr.contains("--read-only applies to agent profiles"),
        "{out}"
    );
    let out = env
        .agent(&[
            "new",
            "--read-only",
            "--permission-mode",
            "auto",
            "--agent",
            "claude",
            "t",
        ])
        .code(2);
    assert!(out.stderr.contains("cannot be used with"), "{out}");
    env.git(&["config", "agent.profile.mine.command", "fake-agent"]);
    let out = env
        .agent(&["new", "--read-only", "--agent", "mine", "--name", "m", "t"])
        .code(128);
    assert!(
        out.stderr
            .contains("the profile mine has no mode that cannot edit"),
        "{out}"
    );
    assert!(
        out.stderr.contains("profiles with one: claude, codex"),
        "{out}"
    );
    assert!(!env.has_record("m"));
}

#[test]
fn profiles_file_and_format_keys() {
    let env = TestEnv::new();
    let script = env.script("pf", "say hello from the file profile");
    std::fs::create_dir_all(env.home.join(".config/git-agent")).unwrap();
    std::fs::write(
        env.home.join(".config/git-agent/profiles.toml"),
        format!(
            "[mine]\ncommand = [\"fake-agent\", \"--script\", \"{}\"]\nformat = \"text\"\nresume = \"--again {{prompt}}\"\nleaves = [\"scratch/\"]\nenv = {{ FROM_FILE = \"yes\" }}\n",
            script.display()
        ),
    ).unwrap();
    env.agent(&["new", "--agent", "mine", "--name", "m", "t"])
        .ok();
    env.wait_state("m", "done");
    let call = env.call_of("m");
    assert_eq!(call["env"]["FROM_FILE"], "yes");
    assert_eq!(env.record("m")["agent"]["leaves"][0], "scratch/");
    env.agent(&["send", "m", "again"]).ok();
    env.wait_state("m", "done");
    assert_eq!(args_of(&env.calls_of("m")[1]), ["--again", "again"]);
    // Git config overrides the file.
    env.git(&["config", "agent.profile.mine.env", "FROM_FILE=no"]);
    env.agent(&["new", "--agent", "mine", "--name", "m2", "t"])
        .ok();
    assert_eq!(env.call_of("m2")["env"]["FROM_FILE"], "no");
    std::fs::write(
        env.home.join(".config/git-agent/profiles.toml"),
        "[broken\n",
    )
    .unwrap();
    let out = env.agent(&["new", "--agent", "mine", "t"]).code(128);
    assert!(out.stderr.contains("profiles.toml"), "{out}");
}

#[test]
fn resume_carries_on_a_stopped_or_lost_session_in_its_conversation() {
    let env = with_fake("claude", "say working\nsleep 300");
    env.agent(&["new", "--agent", "claude", "--name", "r", "long task"])
        .ok();
    env.wait_until("the session id", || {
        env.record("r")["agent_session_id"].is_string()
    });
    let session_id = env.record("r")["agent_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = env.agent(&["resume", "r"]).code(128);
    assert!(out.stderr.contains("nothing to resume"), "{out}");
    env.agent(&["stop", "--grace", "1s", "r"]).ok();
    let out = env.agent(&["resume", "r", "-m", "skip the docs"]).ok();
    assert!(
        out.stdout.contains(&format!(
            "Resumed r (run 2, resuming claude's session {}",
            &session_id[..7]
        )),
        "{out}"
    );
    env.wait_until("run 2 to start", || env.calls_of("r").len() == 2);
    let args = args_of(&env.calls_of("r")[1]);
    assert_eq!(&args[2..4], ["--resume", session_id.as_str()]);
    assert!(
        args[1].contains("interrupted") && args[1].contains("skip the docs"),
        "{args:?}"
    );
    assert_eq!(env.record("r")["runs"][1]["kind"], "resume");

    // Lost: the supervisor was killed. Its end is recorded, then it carries on.
    let supervisor = env.record("r")["processes"]["supervisor"]["pid"]
        .as_i64()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    env.wait_until("lost", || {
        env.agent(&["list", "--json"]).ok().json()["sessions"][0]["state"] == "lost"
    });
    let out = env.agent(&["resume", "r"]).ok();
    assert!(out.stderr.contains("recording its end first"), "{out}");
    assert!(out.stdout.contains("Resumed r (run 3"), "{out}");
    env.agent(&["stop", "--grace", "1s", "r"]).ok();
    let logs = env.agent(&["logs", "r"]).ok();
    assert!(logs.stdout.contains("resumed"), "{logs}");
}
