//! Bad input and failures: each leaves nothing behind and says what to do, in git's voice.

use crate::support::TestEnv;

/// Nothing was created: no record, no branch, no worktree, no agent started, and the
/// current checkout is exactly as it was.
#[track_caller]
fn assert_nothing_created(env: &TestEnv, status_before: &str) {
    let sessions = env.state_dir().join("sessions");
    let records: Vec<_> = std::fs::read_dir(&sessions)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(records.is_empty(), "records left behind: {records:?}");
    assert_eq!(
        env.git(&["branch", "--format=%(refname:short)"]).trim(),
        "main",
        "a branch was left behind"
    );
    assert_eq!(
        env.git(&["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1,
        "a worktree was left behind"
    );
    assert_eq!(
        env.git(&["status", "--porcelain=v2", "--untracked-files=all"]),
        status_before,
        "the checkout changed"
    );
    assert!(env.calls().is_empty(), "an agent was started");
}

fn dirty(env: &TestEnv) -> String {
    env.write("README.md", "local edit\n");
    env.write("notes.txt", "untracked\n");
    env.git(&["status", "--porcelain=v2", "--untracked-files=all"])
}

#[test]
fn not_a_repository() {
    let env = TestEnv::empty();
    for args in [
        &["list"][..],
        &["new", "task", "--", "fake-agent"],
        &["show", "x"],
    ] {
        let out = env.agent_in(&env.root(), args).code(128);
        assert_eq!(
            out.stderr,
            "fatal: not a git repository (or any of the parent directories): .git\n"
        );
    }
}

#[test]
fn bare_repository_without_worktree() {
    let env = TestEnv::new();
    let bare = env.root().join("bare.git");
    env.git(&[
        "clone",
        "-q",
        "--bare",
        env.repo.to_str().unwrap(),
        bare.to_str().unwrap(),
    ]);
    let out = env
        .agent_in(&bare, &["new", "task", "--", "fake-agent"])
        .code(128);
    assert!(
        out.stderr
            .starts_with("fatal: this operation must be run in a work tree\n"),
        "{out}"
    );
    assert!(
        out.stderr.contains("hint:   git config agent.worktreeDir"),
        "{out}"
    );
    assert!(
        !bare.join("agent/sessions").exists()
            || std::fs::read_dir(bare.join("agent/sessions"))
                .unwrap()
                .next()
                .is_none()
    );
    env.agent_in(&bare, &["list"]).ok();

    // Told where worktrees go, a bare repository works; state lives in the bare repository.
    let wts = env.root().join("wts");
    env.git_in(
        &bare,
        &["config", "agent.worktreeDir", wts.to_str().unwrap()],
    );
    let script = env.script("bare", "write f.txt x");
    let out = env
        .agent_in(
            &bare,
            &[
                "new",
                "--name",
                "b",
                "task",
                "--",
                "fake-agent",
                "--script",
                script.to_str().unwrap(),
            ],
        )
        .ok();
    assert!(out.stdout.contains("Started b"), "{out}");
    env.agent_in(&bare, &["wait", "b"]).ok();
    assert!(bare.join("agent/sessions/b.json").exists());
    assert_eq!(env.git_in(&bare, &["show", "agent/b:f.txt"]), "x\n");
}

#[test]
fn unknown_profile() {
    let env = TestEnv::new();
    let before = dirty(&env);
    let out = env.agent(&["new", "--agent", "nosuch", "task"]).code(128);
    assert!(
        out.stderr
            .starts_with("fatal: unknown agent profile 'nosuch'\n"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: known profiles: claude, codex, gemini, opencode, aider"),
        "{out}"
    );
    assert_nothing_created(&env, &before);
}

#[test]
fn agent_program_missing() {
    let env = TestEnv::new();
    let before = dirty(&env);
    let out = env.agent(&["new", "--agent", "claude", "task"]).code(128);
    assert!(
        out.stderr
            .starts_with("fatal: agent program 'claude' not found\n"),
        "{out}"
    );
    let out = env
        .agent(&["new", "task", "--", "no-such-program", "x"])
        .code(128);
    assert!(
        out.stderr
            .starts_with("fatal: agent program 'no-such-program' not found\n"),
        "{out}"
    );
    let out = env.agent(&["new", "task", "--", "./missing.sh"]).code(128);
    assert!(out.stderr.contains("missing.sh' not found"), "{out}");
    // No profile available at all.
    let out = env.agent(&["new", "task"]).code(128);
    assert!(out.stderr.starts_with("fatal: no agent found\n"), "{out}");
    assert!(
        out.stderr
            .contains("hint: looked for claude, codex, gemini, opencode, aider in PATH"),
        "{out}"
    );
    assert_nothing_created(&env, &before);
}

#[test]
fn invalid_names_and_bases() {
    let env = TestEnv::new();
    let before = dirty(&env);
    for bad in [
        "../escape",
        "a/b",
        "-x",
        "a..b",
        "with space",
        ".hidden",
        "x.lock",
    ] {
        let out = env
            .agent(&["new", &format!("--name={bad}"), "task", "--", "fake-agent"])
            .code(2);
        assert!(
            out.stderr
                .starts_with(&format!("error: invalid session name '{bad}'")),
            "{out}"
        );
    }
    let out = env
        .agent(&["new", "--branch", "bad..branch", "task", "--", "fake-agent"])
        .code(2);
    assert!(
        out.stderr
            .contains("'bad..branch' is not a valid branch name"),
        "{out}"
    );
    let out = env
        .agent(&["new", "--base", "nope", "task", "--", "fake-agent"])
        .code(128);
    assert!(
        out.stderr
            .starts_with("fatal: invalid base 'nope': not a commit or a branch\n"),
        "{out}"
    );
    let out = env
        .agent(&["new", "--timeout", "soon", "task", "--", "fake-agent"])
        .code(2);
    assert!(out.stderr.contains("invalid duration 'soon'"), "{out}");
    let out = env.agent(&["new"]).code(2);
    assert!(out.stderr.contains("error: no task given"), "{out}");
    let out = env
        .agent(&["new", "--agent", "claude", "task", "--", "fake-agent"])
        .code(2);
    assert!(out.stderr.contains("use one"), "{out}");
    assert_nothing_created(&env, &before);
}

#[test]
fn worktree_path_already_exists() {
    let env = TestEnv::new();
    let before = dirty(&env);
    std::fs::create_dir_all(env.agents_dir().join("taken")).unwrap();
    std::fs::write(env.agents_dir().join("taken/precious.txt"), "mine").unwrap();
    let out = env
        .agent(&["new", "--name", "taken", "task", "--", "fake-agent"])
        .code(128);
    assert!(out.stderr.contains("already exists"), "{out}");
    assert_eq!(
        std::fs::read_to_string(env.agents_dir().join("taken/precious.txt")).unwrap(),
        "mine"
    );
    assert_nothing_created(&env, &before);
}

#[test]
fn failing_worktree_add_leaves_nothing_behind() {
    let env = TestEnv::new();
    let before = dirty(&env);
    // The worktrees folder is a file: `git worktree add` itself fails.
    let blocker = env.root().join("blocker");
    std::fs::write(&blocker, "not a directory").unwrap();
    env.git(&["config", "agent.worktreeDir", blocker.to_str().unwrap()]);
    let out = env
        .agent(&["new", "--name", "x", "task", "--", "fake-agent"])
        .code(128);
    assert!(
        out.stderr
            .starts_with("fatal: could not create the worktree at"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: nothing was started; the current checkout is untouched"),
        "{out}"
    );
    assert_nothing_created(&env, &before);
}

#[test]
fn killed_supervisor_means_lost() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "orphan", "t"],
        &format!("pidfile {}\nsleep 300", env.path("agent.pid").display()),
    );
    let record = env.record("orphan");
    let supervisor = record["processes"]["supervisor"]["pid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    env.wait_until("the supervisor to die", || {
        env.agent(&["list", "--json"]).ok().json()["sessions"][0]["state"] == "lost"
    });
    assert_eq!(
        env.stored_state("orphan"),
        "running",
        "lost is derived, not written"
    );
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("orphan") && l.contains("lost")),
        "{list}"
    );
    let show = env.agent(&["show", "orphan"]).ok();
    assert!(
        show.stdout
            .contains("recorded as running, but its supervisor is gone"),
        "{show}"
    );
    env.agent(&["wait", "orphan"]).code(1);

    // stop cleans up after a lost supervisor: the agent is killed, the end is recorded.
    let out = env.agent(&["stop", "--grace", "1s", "orphan"]).ok();
    assert!(out.stdout.contains("orphan: stopped"), "{out}");
    let agent_pid = env.read_pid(&env.path("agent.pid"));
    env.wait_until("the orphaned agent to be killed", || {
        crate::support::process_gone(agent_pid)
    });
    assert_eq!(env.stored_state("orphan"), "stopped");
}

#[test]
fn ten_concurrent_news_all_succeed() {
    let env = TestEnv::new();
    let script = env.script("quick", "write out.txt hello");
    let children: Vec<_> = (0..10)
        .map(|i| {
            let mut cmd = env.command("git", &env.repo);
            cmd.args([
                "agent",
                "new",
                "--name",
                &format!("c{i}"),
                "concurrent task",
                "--",
                "fake-agent",
                "--script",
            ])
            .arg(&script)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("lock"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    env.agent(&["wait", "--all"]).ok();
    let json = env.agent(&["list", "--json"]).ok().json();
    let sessions = json["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 10);
    for s in sessions {
        assert_eq!(s["state"], "done", "{s}");
        assert_eq!(s["commit"]["status"], "committed", "{s}");
    }
    assert_eq!(
        env.git(&["branch", "--list", "agent/*"]).lines().count(),
        10
    );
}

fn hook(env: &TestEnv, name: &str, body: &str) {
    let path = env.repo.join(".git/hooks").join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn failing_post_checkout_hook_is_rolled_back() {
    let env = TestEnv::new();
    let before = dirty(&env);
    hook(&env, "post-checkout", "echo 'hook says no' >&2\nexit 1");
    let out = env
        .agent(&["new", "--name", "hooked", "task", "--", "fake-agent"])
        .code(128);
    assert!(
        out.stderr
            .starts_with("fatal: could not create the worktree at"),
        "{out}"
    );
    assert!(!env.agents_dir().join("hooked").exists());
    assert_nothing_created(&env, &before);

    // A hook that leaves files behind: nothing is forced away; the user is told what is left.
    hook(
        &env,
        "post-checkout",
        "echo generated > generated.txt\nexit 1",
    );
    let out = env
        .agent(&["new", "--name", "messy", "task", "--", "fake-agent"])
        .code(128);
    assert!(out.stderr.contains("they are kept"), "{out}");
    assert!(out.stderr.contains("git worktree remove --force"), "{out}");
    assert!(env.agents_dir().join("messy/generated.txt").exists());
    assert!(!env.has_record("messy"));
    assert!(env.calls().is_empty());
}

#[test]
fn interrupting_new_leaves_nothing_behind() {
    let env = TestEnv::new();
    let before = dirty(&env);
    let marker = env.path("hook-started");
    hook(
        &env,
        "post-checkout",
        &format!("touch {}\nsleep 5", marker.display()),
    );
    let mut cmd = env.command(env.bin.join("git-agent"), &env.repo);
    cmd.args(["new", "--name", "intr", "task", "--", "fake-agent"]);
    use std::os::unix::process::CommandExt as _;
    cmd.process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    env.wait_until("the checkout hook to run", || marker.exists());
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.starts_with("fatal: interrupted"), "{stderr}");
    assert!(!env.agents_dir().join("intr").exists(), "{stderr}");
    assert_nothing_created(&env, &before);
}
