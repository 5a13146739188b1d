//! Preparing worktrees: `.worktreeinclude`, setup hooks and their trust, ports, run/exec/path,
//! `--take-changes`, existing branches, `@fresh`, submodules and LFS.

use std::os::unix::fs::PermissionsExt as _;

use crate::support::TestEnv;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn hook(env: &TestEnv, name: &str, body: &str) {
    let path = env.repo.join(".git/hooks").join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn commit_all(env: &TestEnv, message: &str) {
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", message]);
}

#[test]
fn worktreeinclude_copies_exactly_the_ignored_matches() {
    let env = TestEnv::new();
    env.write(".gitignore", ".env*\nnode_modules/\n.venv/\n*.log\n");
    env.write(".env.example", "KEY=\n");
    env.git(&["add", "-f", ".gitignore", ".env.example"]);
    env.write(
        ".worktreeinclude",
        ".env\n.env.local\n.env.example\napps/*/.env.local\n",
    );
    env.write("apps/web/package.json", "{}\n");
    commit_all(&env, "project");
    env.write(".env", "SECRET=1\n");
    std::fs::set_permissions(
        env.repo.join(".env"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    env.write(".env.local", "LOCAL=1\n");
    env.write("apps/web/.env.local", "WEB=1\n");
    env.write("node_modules/pkg/index.js", "module.exports = 1\n");
    env.write("debug.log", "noise\n");
    env.write("notes.txt", "untracked, not ignored\n");

    let out = env.spawn(&["--name", "inc", "t"], "print x");
    let wt = env.agents_dir().join("inc");
    assert_eq!(
        std::fs::read_to_string(wt.join(".env")).unwrap(),
        "SECRET=1\n"
    );
    assert_eq!(mode(&wt.join(".env")), 0o600, "the secret keeps its mode");
    assert!(wt.join(".env.local").is_file());
    assert!(
        wt.join("apps/web/.env.local").is_file(),
        "nested matches are copied"
    );
    assert!(
        !wt.join("node_modules").exists(),
        "unlisted directories are not copied"
    );
    assert!(!wt.join("debug.log").exists());
    assert!(
        !wt.join("notes.txt").exists(),
        "untracked files that are not ignored are not copied"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join(".env.example")).unwrap(),
        "KEY=\n",
        "tracked files come from git"
    );
    assert_eq!(
        env.git_in(&wt, &["status", "--porcelain"]),
        "",
        "the new worktree is clean"
    );
    assert!(
        out.stdout
            .contains("copied    .env, .env.local, apps/web/.env.local"),
        "{out}"
    );
    assert_eq!(env.record("inc")["included"].as_array().unwrap().len(), 3);

    // A listed directory is copied whole; .worktreelink symlinks instead.
    env.write(".worktreeinclude", ".env\nnode_modules/\n");
    env.write(".worktreelink", ".venv/\n");
    commit_all(&env, "include node_modules, link .venv");
    env.write(".venv/bin/python", "#!/bin/sh\n");
    std::fs::set_permissions(
        env.repo.join(".venv/bin/python"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    env.spawn(&["--name", "inc2", "t"], "print x");
    let wt2 = env.agents_dir().join("inc2");
    assert_eq!(
        std::fs::read_to_string(wt2.join("node_modules/pkg/index.js")).unwrap(),
        "module.exports = 1\n"
    );
    assert!(
        std::fs::symlink_metadata(wt2.join(".venv"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_link(wt2.join(".venv")).unwrap(),
        env.repo.join(".venv")
    );
    assert_eq!(mode(&wt2.join(".venv/bin/python")), 0o755);
}

#[test]
fn without_worktreeinclude_nothing_ignored_is_copied() {
    let env = TestEnv::new();
    env.write(".gitignore", ".env\n");
    commit_all(&env, "ignore");
    env.write(".env", "SECRET=1\n");
    let out = env.spawn(&["--name", "none", "t"], "print x");
    assert!(!env.agents_dir().join("none/.env").exists());
    assert!(
        out.stderr
            .contains("hint: .env is ignored and was not copied; list it in .worktreeinclude"),
        "{out}"
    );
}

#[test]
fn setup_hook_from_git_config_runs_before_the_agent() {
    let env = TestEnv::new();
    env.git(&[
        "config",
        "agent.setup",
        "echo installing; printf '%s|%s|%s|%s' \"$WORKTREE_PATH\" \"$REPO_PATH\" \"$GIT_AGENT_NAME\" \"$PWD\" > setup.txt",
    ]);
    env.spawn(&["--name", "s", "t"], "print agent ran");
    env.wait_state("s", "done");
    let wt = env.agents_dir().join("s");
    let setup = std::fs::read_to_string(wt.join("setup.txt")).unwrap();
    assert_eq!(
        setup,
        format!("{}|{}|s|{}", wt.display(), env.repo.display(), wt.display())
    );
    let logs = env.agent(&["logs", "s"]).ok();
    assert_eq!(logs.stdout, "installing\nagent ran\n");
    let record = env.record("s");
    assert_eq!(record["setup"]["source"], "config");
    assert_eq!(record["setup"]["exit"]["code"], 0);
    let text = std::fs::read_to_string(env.state_dir().join("events.jsonl")).unwrap();
    let setup_at = text.find("\"state\":\"setup\"").unwrap();
    let running_at = text.find("\"state\":\"running\"").unwrap();
    assert!(setup_at < running_at, "setup before the agent");
}

#[test]
fn failing_setup_keeps_the_worktree_and_starts_no_agent() {
    let env = TestEnv::new();
    env.git(&[
        "config",
        "agent.setup",
        "echo 'npm ERR! missing script: ci' >&2; exit 4",
    ]);
    env.spawn(&["--name", "broken", "t"], "print never");
    env.wait_state("broken", "setup-failed");
    assert!(
        env.agents_dir().join("broken").is_dir(),
        "the worktree is kept"
    );
    assert!(env.calls().is_empty(), "the agent was not started");
    let record = env.record("broken");
    assert_eq!(
        record["reason"],
        "setup failed (exit 4): npm ERR! missing script: ci"
    );
    let list = env.agent(&["list"]).ok();
    let line = list
        .stdout
        .lines()
        .find(|l| l.starts_with("broken"))
        .unwrap();
    assert!(
        line.contains("setup-failed") && line.contains("npm ERR!"),
        "{list}"
    );
    let show = env.agent(&["show", "broken"]).ok();
    assert!(
        show.stdout.contains("    npm ERR! missing script: ci"),
        "{show}"
    );
    env.agent(&["wait", "broken"]).code(1);
    // --no-setup skips it.
    env.spawn(&["--name", "skipped", "--no-setup", "t"], "print fine");
    env.wait_state("skipped", "done");
}

#[test]
fn project_setup_runs_only_once_approved_and_again_after_a_change() {
    let env = TestEnv::new();
    let marker = env.path("pwned");
    env.write(
        ".git-agent.toml",
        &format!("setup = \"touch {}\"\n", marker.display()),
    );
    commit_all(&env, "project setup");
    let status_before = env.git(&["status", "--porcelain"]);

    // No terminal: refused, naming the flag, and nothing is created.
    let out = env
        .agent(&["new", "--name", "p", "t", "--", "fake-agent"])
        .code(3);
    assert!(
        out.stderr
            .starts_with(".git-agent.toml defines a setup command you have not approved")
            || out
                .stderr
                .contains("fatal: .git-agent.toml defines a setup command you have not approved"),
        "{out}"
    );
    assert!(out.stderr.contains("--trust"), "{out}");
    assert!(!marker.exists());
    assert!(!env.has_record("p"));
    assert_eq!(env.git(&["status", "--porcelain"]), status_before);

    // `git agent trust` shows it; --yes approves it for this repository.
    let shown = env.agent(&["trust"]).code(3);
    assert!(
        shown
            .stdout
            .contains("setup (.git-agent.toml): not approved"),
        "{shown}"
    );
    assert!(
        shown
            .stdout
            .contains(&format!("    touch {}", marker.display())),
        "{shown}"
    );
    env.agent(&["trust", "--yes"]).ok();
    let listed = env.agent(&["trust", "--list"]).ok();
    assert!(listed.stdout.contains("setup (approved"), "{listed}");
    env.spawn(&["--name", "p", "t"], "print x");
    env.wait_state("p", "done");
    assert!(marker.exists(), "the approved hook ran");
    assert_eq!(env.record("p")["setup"]["source"], "project");

    // A changed text needs approval again.
    std::fs::remove_file(&marker).unwrap();
    env.write(
        ".git-agent.toml",
        &format!("setup = \"touch {} && echo changed\"\n", marker.display()),
    );
    commit_all(&env, "change the hook");
    env.agent(&["new", "--name", "q", "t", "--", "fake-agent"])
        .code(3);
    assert!(!marker.exists());
    // --trust approves it inline.
    env.spawn(&["--name", "q", "--trust", "t"], "print x");
    env.wait_state("q", "done");
    assert!(marker.exists());

    // Git config wins over the project file, with no approval.
    env.git(&["config", "agent.setup", "echo from config"]);
    env.write(".git-agent.toml", "setup = \"echo never approved\"\n");
    commit_all(&env, "another hook");
    env.spawn(&["--name", "r", "t"], "print x");
    env.wait_state("r", "done");
    assert_eq!(env.record("r")["setup"]["source"], "config");
    env.agent(&["trust", "--revoke"]).ok();
    assert!(env.agent(&["trust", "--list"]).ok().stdout.is_empty());
}

#[test]
fn definitions_come_from_the_base_commit_not_the_agents_branch() {
    let env = TestEnv::new();
    let good = env.path("good-ran");
    let evil = env.path("evil-ran");
    env.write(
        ".git-agent.toml",
        &format!("run = \"touch {}\"\n", good.display()),
    );
    commit_all(&env, "run script");
    env.agent(&["trust", "--yes"]).ok();
    // The agent rewrites the project file in its worktree and commits it on its branch.
    env.spawn(
        &["--name", "sneaky", "t"],
        &format!(
            "write .git-agent.toml run = \"touch {}\"\ncommit change the run script",
            evil.display()
        ),
    );
    env.wait_state("sneaky", "done");
    env.agent(&["run", "sneaky"]).ok();
    assert!(good.exists(), "the base commit's run script ran");
    assert!(!evil.exists(), "the agent's version never runs");
}

#[test]
fn ports_are_reserved_distinct_and_exported() {
    let env = TestEnv::new();
    env.git(&["config", "agent.ports", "2"]);
    let script = env.script("p", "print x");
    let children: Vec<_> = (0..5)
        .map(|i| {
            let mut cmd = env.command("git", &env.repo);
            cmd.args([
                "agent",
                "new",
                "--name",
                &format!("p{i}"),
                "t",
                "--",
                "fake-agent",
                "--script",
            ])
            .arg(&script)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
            cmd.spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let mut all = Vec::new();
    for i in 0..5 {
        let ports: Vec<u64> = env.record(&format!("p{i}"))["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap())
            .collect();
        assert_eq!(ports.len(), 2);
        all.extend(ports.clone());
        let call = env.call_of(&format!("p{i}"));
        assert_eq!(call["env"]["GIT_AGENT_PORT"], ports[0].to_string());
        assert_eq!(call["env"]["GIT_AGENT_PORT_1"], ports[0].to_string());
        assert_eq!(call["env"]["GIT_AGENT_PORT_2"], ports[1].to_string());
    }
    let mut unique = all.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 10, "no port given twice: {all:?}");
    let registry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.state_dir().join("ports.json")).unwrap())
            .unwrap();
    assert_eq!(registry["ports"].as_object().unwrap().len(), 10);
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stdout.lines().next().unwrap().contains("PORTS"),
        "{list}"
    );
}

#[test]
fn run_exec_and_path() {
    let env = TestEnv::new();
    env.git(&["config", "agent.ports", "1"]);
    env.spawn(&["--name", "x", "t"], "print x");
    env.wait_state("x", "done");
    let wt = env.agents_dir().join("x");
    let path = env.agent(&["path", "x"]).ok();
    assert_eq!(path.stdout, format!("{}\n", wt.display()));

    env.git(&[
        "config",
        "agent.run",
        "echo \"serving $WORKTREE_PATH on $GIT_AGENT_PORT\"; exit 7",
    ]);
    let port = env.record("x")["ports"][0].as_u64().unwrap();
    let run = env.agent(&["run", "x"]).code(7);
    assert_eq!(run.stdout, format!("serving {} on {port}\n", wt.display()));

    let exec = env
        .agent(&[
            "exec",
            "x",
            "--",
            "sh",
            "-c",
            "pwd; echo $GIT_AGENT_NAME; exit 3",
        ])
        .code(3);
    assert_eq!(exec.stdout, format!("{}\nx\n", wt.display()));
    let given = env
        .agent(&["run", "x", "--", "git", "rev-parse", "--abbrev-ref", "HEAD"])
        .ok();
    assert_eq!(given.stdout, "agent/x\n");

    env.git(&["config", "--unset", "agent.run"]);
    let none = env.agent(&["run", "x"]).code(128);
    assert!(none.stderr.contains("there is no run script"), "{none}");
    env.agent(&["exec", "x"]).code(2);
}

#[test]
fn take_changes_moves_staged_unstaged_and_untracked_work() {
    let env = TestEnv::new();
    env.write("a.txt", "one\n");
    env.write("b.txt", "two\n");
    env.write(".gitignore", "*.tmp\n");
    commit_all(&env, "files");
    env.write("a.txt", "one, staged\n");
    env.git(&["add", "a.txt"]);
    env.write("b.txt", "two, unstaged\n");
    env.write("dir/new.txt", "untracked\n");
    env.write("scratch.tmp", "ignored: stays\n");
    let before_status = env.git(&["status", "--porcelain"]);

    let out = env.spawn(
        &["--name", "moved", "--take-changes", "continue my work"],
        "print x",
    );
    assert!(out.stderr.contains("this checkout is clean now"), "{out}");
    let wt = env.agents_dir().join("moved");
    // The agent's worktree holds exactly what the checkout held (before auto-commit runs,
    // the agent saw it; after, it is committed on the branch).
    env.wait_state("moved", "done");
    let committed = env.git(&["show", "--stat", "--format=", "agent/moved"]);
    for f in ["a.txt", "b.txt", "dir/new.txt"] {
        assert!(committed.contains(f), "{f} not moved:\n{committed}");
    }
    assert_eq!(
        std::fs::read_to_string(wt.join("a.txt")).unwrap(),
        "one, staged\n"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("b.txt")).unwrap(),
        "two, unstaged\n"
    );
    // The source is clean; ignored files stay where they were.
    assert_eq!(
        env.git(&["status", "--porcelain"]),
        "",
        "was:\n{before_status}"
    );
    assert!(env.repo.join("scratch.tmp").exists());
    assert!(!env.repo.join("dir").exists());
    let took = &env.record("moved")["took_changes"];
    assert_eq!(took["cleaned"], true);
    let backup = took["snapshot"].as_str().unwrap();
    assert_eq!(
        env.git(&["show", &format!("{backup}:a.txt")]),
        "one, staged\n",
        "a backup commit exists"
    );
    assert_eq!(
        env.git(&["stash", "list"]),
        "",
        "the shared stash is never touched"
    );
}

#[test]
fn take_changes_that_cannot_be_applied_leave_the_source_untouched() {
    let env = TestEnv::new();
    env.write("a.txt", "one\n");
    commit_all(&env, "files");
    env.write("a.txt", "my precious edit\n");
    env.write("new.txt", "untracked work\n");
    let before = env.git(&["status", "--porcelain"]);
    // The new checkout is changed under our feet: the patch cannot apply there.
    hook(
        &env,
        "post-checkout",
        "[ \"$PWD\" != \"$(git rev-parse --show-toplevel 2>/dev/null)\" ] || echo sabotage > a.txt",
    );
    let out = env
        .agent(&[
            "new",
            "--name",
            "m",
            "--take-changes",
            "t",
            "--",
            "fake-agent",
        ])
        .code(128);
    assert!(out.stderr.contains("could not take the changes"), "{out}");
    assert!(
        out.stderr.contains("Your uncommitted changes are still in"),
        "{out}"
    );
    assert_eq!(env.git(&["status", "--porcelain"]), before);
    assert_eq!(
        std::fs::read_to_string(env.repo.join("a.txt")).unwrap(),
        "my precious edit\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("new.txt")).unwrap(),
        "untracked work\n"
    );
    assert!(env.calls().is_empty(), "no agent ran");
    // Taking changes onto another base makes no sense.
    let out = env.agent(&[
        "new",
        "--take-changes",
        "--base",
        "HEAD~0",
        "--branch",
        "x",
        "t",
        "--",
        "fake-agent",
    ]);
    assert_ne!(out.code, 0);
}

#[test]
fn an_existing_branch_is_attached_never_reset() {
    let env = TestEnv::new();
    env.git(&["branch", "feature"]);
    env.git(&["checkout", "-q", "feature"]);
    env.write("feature.txt", "feature work\n");
    commit_all(&env, "feature work");
    let tip = env.git(&["rev-parse", "HEAD"]);
    env.git(&["checkout", "-q", "main"]);

    env.spawn(
        &["--name", "fx", "--branch", "feature", "t"],
        "write more.txt x",
    );
    env.wait_state("fx", "done");
    let record = env.record("fx");
    assert_eq!(record["branch"], "feature");
    assert_eq!(record["branch_created"], false);
    assert!(
        env.agents_dir().join("fx/feature.txt").exists(),
        "the branch's own content"
    );
    assert_eq!(
        env.git(&["rev-parse", "feature~1"]),
        tip,
        "the branch moved forward, never reset"
    );

    // Checked out elsewhere: refused with that worktree's path.
    let out = env
        .agent(&[
            "new",
            "--name",
            "fy",
            "--branch",
            "feature",
            "t",
            "--",
            "fake-agent",
        ])
        .code(128);
    assert!(
        out.stderr.contains(&format!(
            "branch 'feature' is checked out at '{}'",
            env.agents_dir().join("fx").display()
        )),
        "{out}"
    );
}

#[test]
fn fresh_base_fetches_the_remotes_default_branch() {
    let env = TestEnv::empty();
    let upstream = env.root().join("upstream");
    env.git(&["init", "-q", "-b", "staging", upstream.to_str().unwrap()]);
    env.git_in(&upstream, &["commit", "-q", "--allow-empty", "-m", "first"]);
    env.git(&[
        "clone",
        "-q",
        upstream.to_str().unwrap(),
        env.repo.to_str().unwrap(),
    ]);
    // Upstream moves on after the clone.
    env.git_in(
        &upstream,
        &["commit", "-q", "--allow-empty", "-m", "second"],
    );
    let upstream_tip = env.git_in(&upstream, &["rev-parse", "HEAD"]);
    let out = env.spawn(&["--name", "fresh", "--base", "@fresh", "t"], "print x");
    assert!(out.stderr.contains("Fetched origin/staging"), "{out}");
    let base = &env.record("fresh")["base"];
    assert_eq!(base["ref"], "refs/remotes/origin/staging");
    assert_eq!(base["commit"], upstream_tip.trim());

    // Without refs/remotes/origin/HEAD, the remote is asked.
    env.git(&["remote", "set-head", "origin", "--delete"]);
    env.spawn(&["--name", "fresh2", "--base", "@fresh", "t"], "print x");
    assert_eq!(
        env.record("fresh2")["base"]["ref"],
        "refs/remotes/origin/staging"
    );
}

#[test]
fn submodules_are_initialised_and_lfs_can_be_skipped() {
    let env = TestEnv::new();
    // Local file submodules need protocol.file.allow (git 2.38+): the helper allows it.
    env.add_submodule();

    env.spawn(&["--name", "sub", "t"], "print x");
    env.wait_state("sub", "done");
    assert_eq!(
        std::fs::read_to_string(env.agents_dir().join("sub/vendor/lib/lib.txt")).unwrap(),
        "library\n"
    );
    assert_eq!(env.record("sub")["setup"]["submodules"], true);

    env.git(&["config", "agent.submodules", "false"]);
    env.spawn(&["--name", "nosub", "t"], "print x");
    env.wait_state("nosub", "done");
    assert!(!env.agents_dir().join("nosub/vendor/lib/lib.txt").exists());

    // LFS: checkout runs with GIT_LFS_SKIP_SMUDGE=1 (seen by the post-checkout hook).
    env.git(&["config", "agent.lfs", "skip"]);
    hook(
        &env,
        "post-checkout",
        &format!(
            "echo \"${{GIT_LFS_SKIP_SMUDGE:-unset}}\" > {}",
            env.path("lfs").display()
        ),
    );
    env.spawn(&["--name", "lfs", "t"], "print x");
    assert_eq!(std::fs::read_to_string(env.path("lfs")).unwrap(), "1\n");
}

#[test]
fn agent_profiles_from_the_project_file_need_approval() {
    let env = TestEnv::new();
    let script = env.script("team", "print team profile ran");
    env.write(
        ".git-agent.toml",
        &format!(
            "[profile.team]\ncommand = \"fake-agent --script {}\"\n",
            script.display()
        ),
    );
    commit_all(&env, "team profile");
    let out = env
        .agent(&["new", "--agent", "team", "--name", "t1", "t"])
        .code(3);
    assert!(
        out.stderr
            .contains("defines a profile team command you have not approved"),
        "{out}"
    );
    assert!(env.calls().is_empty());
    env.agent(&["new", "--agent", "team", "--name", "t1", "--trust", "t"])
        .ok();
    env.wait_state("t1", "done");
    assert_eq!(env.record("t1")["agent"]["source"], "project");
    // A changed definition is asked about again.
    env.write(
        ".git-agent.toml",
        &format!(
            "[profile.team]\ncommand = \"fake-agent --script {} --changed\"\n",
            script.display()
        ),
    );
    commit_all(&env, "team profile changed");
    env.agent(&["new", "--agent", "team", "--name", "t2", "t"])
        .code(3);
    let profiles = env.agent(&["profiles"]).ok();
    assert!(
        profiles
            .stdout
            .lines()
            .any(|l| l.starts_with("team") && l.contains("project")),
        "{profiles}"
    );
}

#[test]
fn worktrees_in_the_temporary_folder_are_refused() {
    // The system's temporary folder is `$TMPDIR`: here one the repository is not in, its
    // worktrees sent into it. (Wherever this checkout is, even under /tmp.)
    let mut env = TestEnv::new();
    let temp_root = env.root().join("system-temp");
    std::fs::create_dir(&temp_root).unwrap();
    env.set_env("TMPDIR", temp_root.to_str().unwrap());
    env.git(&[
        "config",
        "agent.worktreeDir",
        temp_root.join("agents").to_str().unwrap(),
    ]);
    let out = env
        .agent(&["new", "--name", "x", "t", "--", "fake-agent"])
        .code(128);
    assert!(
        out.stderr
            .contains("in the temporary folder, which the system purges"),
        "{out}"
    );
    assert!(out.stderr.contains("--allow-temp"), "{out}");
    assert!(!env.has_record("x"));
    env.spawn(&["--name", "x", "--allow-temp", "t"], "print x");
    assert!(temp_root.join("agents/x").is_dir());
    env.agent(&["wait", "x"]).ok();
}

/// An approval is for one kind of command: approving `verify = "…"` never lets the same text
/// run as the setup hook, unattended, on every `new`.
#[test]
fn an_approval_is_for_one_kind_of_command() {
    let env = TestEnv::new();
    let marker = env.path("setup-ran");
    let text = format!("touch {}", marker.display());
    env.write(".git-agent.toml", &format!("verify = \"{text}\"\n"));
    commit_all(&env, "verify command");
    env.agent(&["trust", "--yes"]).ok();
    let listed = env.agent(&["trust", "--list"]).ok();
    assert!(listed.stdout.contains("verify (approved"), "{listed}");

    env.write(
        ".git-agent.toml",
        &format!("verify = \"{text}\"\nsetup = \"{text}\"\n"),
    );
    commit_all(&env, "the same text as setup");
    let shown = env.agent(&["trust"]).code(3);
    assert!(
        shown.stdout.contains("verify (.git-agent.toml): approved"),
        "{shown}"
    );
    assert!(
        shown
            .stdout
            .contains("setup (.git-agent.toml): not approved"),
        "{shown}"
    );
    let out = env
        .agent(&["new", "--name", "p", "t", "--", "fake-agent"])
        .code(3);
    assert!(
        out.stderr
            .contains("defines a setup command you have not approved"),
        "{out}"
    );
    assert!(!marker.exists(), "the setup hook never ran");
    assert!(!env.has_record("p"));
    env.agent(&["trust", "--yes"]).ok();
    let listed = env.agent(&["trust", "--list"]).ok();
    assert!(
        listed.stdout.contains("verify (approved") && listed.stdout.contains("setup (approved"),
        "{listed}"
    );
    env.spawn(&["--name", "p", "t"], "print x");
    env.wait_state("p", "done");
    assert!(marker.exists(), "approved as setup, it runs");
}

/// Approvals written before approvals had kinds (version 1, matched by text alone) approve
/// the kind they recorded and nothing else; one without a kind approves nothing.
#[test]
fn approvals_of_the_old_format_approve_only_the_kind_they_recorded() {
    let env = TestEnv::new();
    let text = format!("touch {}", env.path("ran").display());
    let other = format!("touch {}", env.path("other").display());
    env.write(
        ".git-agent.toml",
        &format!("verify = \"{text}\"\nsetup = \"{text}\"\nrun = \"{other}\"\n"),
    );
    commit_all(&env, "commands");
    let sha = |t: &str| {
        use sha2::Digest as _;
        sha2::Sha256::digest(t.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let doc = serde_json::json!({
        "version": 1,
        "approvals": [
            {"repo": env.repo, "what": "verify", "sha256": sha(&text), "text": text,
             "approved_at": "2026-01-01T00:00:00Z"},
            {"repo": env.repo, "sha256": sha(&other), "text": other,
             "approved_at": "2026-01-01T00:00:00Z"},
        ],
    });
    let dir = env.home.join(".config/git-agent");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("approvals.json"), doc.to_string()).unwrap();

    let shown = env.agent(&["trust"]).code(3);
    assert!(
        shown.stdout.contains("verify (.git-agent.toml): approved"),
        "{shown}"
    );
    assert!(
        shown
            .stdout
            .contains("setup (.git-agent.toml): not approved"),
        "{shown}"
    );
    assert!(
        shown.stdout.contains("run (.git-agent.toml): not approved"),
        "{shown}"
    );
    let listed = env.agent(&["trust", "--list"]).ok();
    assert!(
        listed
            .stdout
            .contains("unknown kind, approves nothing (approved"),
        "{listed}"
    );
    env.agent(&["new", "--name", "p", "t", "--", "fake-agent"])
        .code(3);
    assert!(!env.path("ran").exists());
}
