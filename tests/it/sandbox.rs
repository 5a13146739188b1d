//! The agent's room: `PWD` names its worktree, the kernel sandbox keeps its writes there,
//! and nothing it wrote (hooks, a forged git link) runs outside it.

use crate::support::TestEnv;

/// The sandbox a session's last run had, from its record.
fn in_force(env: &TestEnv, name: &str) -> String {
    env.record(name)["sandbox"]["in_force"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn every_process_started_in_a_worktree_gets_its_pwd() {
    let mut env = TestEnv::new();
    // As a shell would have it when the user runs `git agent` from the repository root.
    let repo = env.repo.to_string_lossy().into_owned();
    env.set_env("PWD", &repo);
    env.set_env("OLDPWD", "/somewhere/else");
    env.agent(&["new", "--name", "where", "look", "--", "/usr/bin/env"])
        .ok();
    env.wait_state("where", "done");
    let wt = env.agents_dir().join("where");
    let log = env.agent(&["logs", "where", "--raw"]).ok().stdout;
    assert!(
        log.lines().any(|l| l == format!("PWD={}", wt.display())),
        "the agent's PWD is its worktree: {log}"
    );
    assert!(!log.contains("OLDPWD="), "no OLDPWD: {log}");

    for verb in ["exec", "run"] {
        let out = env.agent(&[verb, "where", "--", "/usr/bin/env"]).ok();
        assert!(
            out.stdout
                .lines()
                .any(|l| l == format!("PWD={}", wt.display())),
            "{verb}: {out}"
        );
        assert!(!out.stdout.contains("OLDPWD="), "{verb}: {out}");
    }
}

#[test]
fn the_sandbox_keeps_the_agent_in_its_worktree() {
    let env = TestEnv::new();
    env.spawn(&["--name", "sibling"], "write sibling.txt mine\n");
    env.wait_state("sibling", "done");
    let sibling = env.agents_dir().join("sibling");
    let main_file = env.repo.join("escape.txt");
    let sibling_file = sibling.join("escape.txt");
    let common = env.repo.join(".git");
    std::fs::create_dir_all(env.home.join(".cache")).unwrap();
    let script = format!(
        "try-write {} from the agent\n\
         try-write {} from the agent\n\
         try-write {} [core]\n\
         try-write {} #!/bin/sh\n\
         try-write {} 0000000000000000000000000000000000000000\n\
         try-write {} stolen\n\
         try-write inside.txt work\n\
         try-write $TMPDIR/scratch.txt scratch\n\
         write committed.txt by the agent\n\
         commit the agent's own commit\n\
         status waiting from the sandbox\n\
         notify working\n",
        main_file.display(),
        sibling_file.display(),
        common.join("config").display(),
        common.join("hooks/pre-commit").display(),
        common.join("refs/heads/main").display(),
        env.home.join(".cache/pre-commit-hook").display(),
    );
    env.spawn(&["--name", "boxed"], &script);
    env.wait_state("boxed", "done");
    let log = env.agent(&["logs", "boxed", "--raw"]).ok().stdout;
    if in_force(&env, "boxed") == "none" {
        eprintln!("skipped: this kernel has no Landlock");
        return;
    }
    assert_eq!(in_force(&env, "boxed"), "landlock", "{log}");
    for escape in [
        &main_file,
        &sibling_file,
        &common.join("config"),
        &common.join("hooks/pre-commit"),
        &common.join("refs/heads/main"),
        &env.home.join(".cache/pre-commit-hook"),
    ] {
        assert!(
            log.contains(&format!("denied {}: Permission denied", escape.display())),
            "{}: {log}",
            escape.display()
        );
    }
    assert!(!main_file.exists() && !sibling_file.exists());
    assert!(!common.join("hooks/pre-commit").exists());
    assert!(
        !std::fs::read_to_string(common.join("config"))
            .unwrap()
            .contains("[core]\n[core]"),
    );
    assert!(log.contains("wrote inside.txt"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.starts_with("wrote /") && l.ends_with("/scratch.txt")),
        "its TMPDIR is writable: {log}"
    );
    // Its own commit went through git inside the sandbox; leftovers were committed after.
    let subjects = env.git(&["log", "--format=%s", "agent/boxed"]);
    assert!(subjects.contains("the agent's own commit"), "{subjects}");
    assert_eq!(
        env.git(&["show", "agent/boxed:inside.txt"]).trim(),
        "work",
        "leftovers committed"
    );
    // The status file and `git agent notify` both work from inside.
    let events = env.agent(&["events", "boxed"]).ok().stdout;
    assert!(events.contains("waiting: from the sandbox"), "{events}");
    assert!(
        events.contains("running") && events.matches("running").count() >= 2,
        "{events}"
    );

    let show = env.agent(&["show", "boxed"]).ok().stdout;
    assert!(show.contains("sandbox   landlock"), "{show}");
    let list = env.agent(&["list"]).ok().stdout;
    assert!(!list.contains("no sandbox"), "{list}");
}

#[test]
fn sandbox_off_restores_the_old_behaviour() {
    let env = TestEnv::new();
    let main_file = env.repo.join("escape.txt");
    let fake = env.fake(
        "open",
        &format!("try-write {} from the agent\n", main_file.display()),
    );
    let mut args = vec!["-c", "agent.sandbox=off", "agent", "new", "--name", "open"];
    args.extend(fake.iter().map(String::as_str));
    let out = env.run({
        let mut cmd = env.command("git", &env.repo);
        cmd.args(&args);
        cmd
    });
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("sandbox   off (agent.sandbox=off)"),
        "{out}"
    );
    env.wait_state("open", "done");
    assert_eq!(in_force(&env, "open"), "off");
    assert!(main_file.exists(), "without a sandbox the write lands");
    let list = env.agent(&["list"]).ok().stdout;
    assert!(list.contains("(no sandbox)"), "{list}");
}

#[test]
fn without_landlock_auto_warns_once_and_on_refuses() {
    let mut env = TestEnv::new();
    env.set_env("GIT_AGENT_TEST_NO_LANDLOCK", "1");
    let out = env.spawn(&["-n", "2", "--name", "bare"], "print hi\n");
    assert_eq!(
        out.stderr
            .matches("warning: agents run without a write sandbox")
            .count(),
        1,
        "{out}"
    );
    env.wait_state("bare-1", "done");
    assert_eq!(in_force(&env, "bare-1"), "none");
    let list = env.agent(&["list"]).ok().stdout;
    assert!(list.contains("(no sandbox)"), "{list}");

    env.agent(&["config", "--json"]).ok();
    env.git(&["config", "agent.sandbox", "on"]);
    let fake = env.fake("strict", "print hi\n");
    let mut args = vec!["new", "--name", "strict"];
    args.extend(fake.iter().map(String::as_str));
    let out = env.agent(&args).code(128);
    assert!(out.stderr.contains("fatal: agent.sandbox is 'on'"), "{out}");
    assert!(out.stderr.contains("hint: set agent.sandbox=auto"), "{out}");
    assert!(!env.has_record("strict"));
    assert!(
        env.git(&["branch", "--list", "agent/strict"]).is_empty(),
        "nothing was created"
    );
}

#[test]
fn a_bad_sandbox_setting_is_refused() {
    let env = TestEnv::new();
    env.git(&["config", "agent.sandbox", "sometimes"]);
    let fake = env.fake("x", "print hi\n");
    let mut args = vec!["new", "--name", "x"];
    args.extend(fake.iter().map(String::as_str));
    let out = env.agent(&args).code(128);
    assert!(
        out.stderr
            .contains("fatal: bad config value 'sometimes' for 'agent.sandbox'"),
        "{out}"
    );
    env.git(&["config", "agent.sandbox", "auto"]);
    env.git(&["config", "agent.sandbox.allowWrite", "relative/path"]);
    let out = env.agent(&args).code(128);
    assert!(out.stderr.contains("agent.sandbox.allowWrite"), "{out}");
}

#[test]
fn allow_write_widens_the_sandbox() {
    let env = TestEnv::new();
    let extra = env.root().join("shared-cache");
    std::fs::create_dir_all(&extra).unwrap();
    env.git(&[
        "config",
        "agent.sandbox.allowWrite",
        extra.to_str().unwrap(),
    ]);
    env.spawn(
        &["--name", "wide"],
        &format!(
            "try-write {}/x.txt ok\ntry-write {} no\n",
            extra.display(),
            env.root().join("not-listed.txt").display()
        ),
    );
    env.wait_state("wide", "done");
    if in_force(&env, "wide") == "none" {
        return;
    }
    let log = env.agent(&["logs", "wide", "--raw"]).ok().stdout;
    assert!(log.contains("wrote "), "{log}");
    assert!(extra.join("x.txt").exists(), "{log}");
    assert!(log.contains("denied "), "{log}");
}

/// The repository's hooks folder is relative (`.githooks`): the commit of the agent's
/// leftovers must run the main worktree's hook, not the one the agent wrote in its own.
fn hooks_of_the_main_worktree_run(sandbox: &str) {
    let env = TestEnv::new();
    env.write_executable(
        ".githooks/pre-commit",
        "#!/bin/sh\necho user >> \"$(git rev-parse --git-path hook-log)\"\n",
    );
    env.git(&["add", "."]);
    env.git(&["commit", "-q", "-m", "hooks"]);
    env.git(&["config", "core.hooksPath", ".githooks"]);
    env.git(&["config", "agent.sandbox", sandbox]);
    // The agent replaces the hook in its worktree (keeping it executable: the file exists).
    env.spawn(
        &["--name", "hooked"],
        "write .githooks/pre-commit #!/bin/sh\\necho agent >> \"$(git rev-parse --git-path hook-log)\"\\n\nwrite work.txt done\n",
    );
    env.wait_state("hooked", "done");
    let record = env.record("hooked");
    assert_eq!(record["commit"]["status"], "committed", "{record}");
    let admin = env
        .git_in(
            &env.agents_dir().join("hooked"),
            &["rev-parse", "--absolute-git-dir"],
        )
        .trim()
        .to_owned();
    let log = std::fs::read_to_string(std::path::Path::new(&admin).join("hook-log")).unwrap();
    assert_eq!(log, "user\n", "only the user's hook ran");
}

#[test]
fn hooks_the_agent_wrote_never_run_when_we_commit() {
    hooks_of_the_main_worktree_run("off");
}

#[test]
fn hooks_the_agent_wrote_never_run_when_we_commit_sandboxed() {
    hooks_of_the_main_worktree_run("auto");
}

#[test]
fn a_forged_git_link_is_never_followed() {
    let env = TestEnv::new();
    env.git(&["config", "agent.sandbox", "off"]);
    let marker = env.root().join("fsmonitor-ran");
    // The agent points its worktree at a repository of its making whose config runs a
    // command on the next `git status`.
    let script = format!(
        "write fake/HEAD ref: refs/heads/agent/forged\\n\n\
         write fake/refs/heads/.keep x\n\
         write fake/objects/.keep x\n\
         write fake/config [core]\\nrepositoryformatversion = 0\\nfsmonitor = \"touch {} && false\"\\n\n\
         write .git gitdir: fake\\n\n\
         write work.txt done\n",
        marker.display()
    );
    env.spawn(&["--name", "forged"], &script);
    env.wait_state("forged", "done");
    assert!(!marker.exists(), "the forged repository's config never ran");
    let record = env.record("forged");
    assert_eq!(record["commit"]["status"], "skipped", "{record}");
    assert!(
        record["commit"]["reason"]
            .as_str()
            .unwrap()
            .contains("no longer points at"),
        "{record}"
    );
}

#[test]
fn the_repository_cannot_widen_the_sandbox() {
    let env = TestEnv::new();
    env.install_fake("claude");
    env.write(
        ".git-agent.toml",
        "[profile.claude]\nsandboxWrite = [\"/\"]\n",
    );
    env.git(&["add", "."]);
    env.git(&["commit", "-q", "-m", "widen"]);
    let out = env
        .agent(&["new", "--agent", "claude", "--trust", "task"])
        .code(128);
    assert!(
        out.stderr.contains("'sandboxWrite' is not allowed"),
        "{out}"
    );
}

#[test]
fn verify_runs_what_the_agent_wrote_inside_its_sandbox() {
    let env = TestEnv::new();
    let escape = env.repo.join("escape.txt");
    env.git(&[
        "config",
        "agent.verify",
        &format!("echo tested > tested.txt && echo x > {}", escape.display()),
    ]);
    env.spawn(&["--name", "checked"], "write work.txt done\n");
    env.wait_state("checked", "done");
    if in_force(&env, "checked") == "none" {
        return;
    }
    let out = env.agent(&["review", "checked", "--verify"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        !escape.exists(),
        "the verify command could not write outside"
    );
    assert!(
        env.agents_dir().join("checked/tested.txt").exists(),
        "it ran, in the worktree: {out}"
    );

    env.git(&["config", "agent.sandbox", "off"]);
    env.spawn(&["--name", "open"], "write work.txt done\n");
    env.wait_state("open", "done");
    env.agent(&["review", "open", "--verify"]).ok();
    assert!(escape.exists(), "without the sandbox it lands");
}

#[test]
fn run_is_sandboxed_and_exec_is_the_users_own() {
    let env = TestEnv::new();
    env.spawn(&["--name", "served"], "write work.txt done\n");
    env.wait_state("served", "done");
    if in_force(&env, "served") == "none" {
        return;
    }
    let escape = env.repo.join("escape.txt");
    let touch = format!("echo x > {}", escape.display());
    let out = env.agent(&["run", "served", "--", "sh", "-c", &touch]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("Permission denied"), "{out}");
    assert!(!escape.exists());
    env.agent(&["exec", "served", "--", "sh", "-c", &touch])
        .ok();
    assert!(
        escape.exists(),
        "exec runs what the user typed, unsandboxed"
    );
}

#[test]
fn merge_runs_the_main_worktrees_hooks_not_the_agents() {
    let env = TestEnv::new();
    let log = env.path("hook-log");
    env.write_executable(
        ".githooks/pre-commit",
        &format!("#!/bin/sh\necho user >> {}\n", log.display()),
    );
    env.git(&["add", "."]);
    env.git(&["commit", "-q", "-m", "hooks"]);
    env.git(&["config", "core.hooksPath", ".githooks"]);
    // The agent commits its own version of the hook: the squash commit of the merge is built
    // in its worktree, where `.githooks` is the agent's.
    env.spawn(
        &["--name", "m"],
        &format!(
            "write .githooks/pre-commit #!/bin/sh\\necho agent >> {}\\n\nwrite work.txt done\ncommit the agent's work\n",
            log.display()
        ),
    );
    env.wait_state("m", "done");
    let _ = std::fs::remove_file(&log);
    let out = env.agent(&["merge", "m"]);
    assert_eq!(out.code, 0, "{out}");
    let ran = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!ran.contains("agent"), "the agent's hook ran: {ran}");
    assert!(ran.contains("user"), "the user's hook ran: {ran:?}");
}

#[test]
fn a_forged_git_link_stops_every_command_that_would_run_git_there() {
    let env = TestEnv::new();
    env.git(&["config", "agent.sandbox", "off"]);
    env.git(&["config", "agent.verify", "true"]);
    let marker = env.root().join("fsmonitor-ran");
    let script = format!(
        "write work.txt done\ncommit real work\n\
         write fake/HEAD ref: refs/heads/agent/forged\\n\n\
         write fake/refs/heads/.keep x\n\
         write fake/objects/.keep x\n\
         write fake/config [core]\\nrepositoryformatversion = 0\\nfsmonitor = \"touch {} && false\"\\n\n\
         write .git gitdir: fake\\n\n",
        marker.display()
    );
    env.spawn(&["--name", "forged"], &script);
    env.wait_state("forged", "done");
    for args in [
        vec!["merge", "forged"],
        vec!["review", "forged", "--stat"],
        vec!["review", "forged", "--verify"],
        vec!["conflicts"],
        vec!["rm", "forged"],
        vec!["sync", "forged"],
    ] {
        let out = env.agent(&args);
        assert_ne!(out.code, 0, "{args:?}: {out}");
        assert!(
            out.stderr.contains("no longer linked to this repository"),
            "{args:?}: {out}"
        );
    }
    env.agent(&["list", "--full"]).ok();
    assert!(
        !marker.exists(),
        "nothing ran the forged repository's config"
    );
    assert_eq!(
        env.git(&["log", "-1", "--format=%s", "main"]).trim(),
        "initial",
        "nothing was merged"
    );
}

#[test]
fn landing_in_your_checkout_runs_no_hook_the_agent_wrote() {
    let env = TestEnv::new();
    env.git(&["config", "core.hooksPath", ".githooks"]);
    let marker = env.path("agent-hook-ran");
    let script = format!(
        "mkdir -p .githooks && printf '#!/bin/sh\\ntouch {m}\\n' > .githooks/post-merge && \
         cp .githooks/post-merge .githooks/post-checkout && cp .githooks/post-merge .githooks/pre-commit && \
         chmod +x .githooks/* && echo done > work.txt",
        m = marker.display()
    );
    env.agent(&["new", "--name", "h", "t", "--", "/bin/sh", "-c", &script])
        .ok();
    env.wait_state("h", "done");
    // The agent's own commit of its leftovers ran (in its sandbox) no hook of its own either.
    assert!(!marker.exists(), "the agent's hook ran at the auto-commit");
    let out = env.agent(&["merge", "h"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        env.repo.join(".githooks/post-merge").exists(),
        "landed: {out}"
    );
    assert!(!marker.exists(), "the agent's hook ran while landing");
}

#[test]
fn a_worktree_config_the_agent_wrote_is_never_read_by_us() {
    let env = TestEnv::new();
    env.git(&["config", "extensions.worktreeConfig", "true"]);
    let marker = env.root().join("filter-ran");
    let script = format!(
        "printf '[filter \"x\"]\\n\\tclean = sh -c \"touch {m}; cat\"\\n' > \"$(git rev-parse --git-dir)/config.worktree\" && \
         printf '* filter=x\\n' > .gitattributes && echo y > work.txt",
        m = marker.display()
    );
    env.agent(&["new", "--name", "wc", "t", "--", "/bin/sh", "-c", &script])
        .ok();
    env.wait_state("wc", "done");
    let record = env.record("wc");
    assert_eq!(record["commit"]["status"], "skipped", "{record}");
    assert!(
        record["commit"]["reason"]
            .as_str()
            .unwrap()
            .contains("config.worktree"),
        "{record}"
    );
    let out = env.agent(&["review", "wc", "--stat"]);
    assert_ne!(out.code, 0, "{out}");
    env.agent(&["list", "--full"]).ok();
    assert!(
        !marker.exists(),
        "the agent's filter ran outside its sandbox"
    );
}

#[test]
fn a_nested_repository_the_agent_made_runs_nothing_of_ours_outside_its_sandbox() {
    let env = TestEnv::new();
    let marker = env.root().join("nested-ran");
    let script = format!(
        "git init -q sub && cd sub && echo s > s.txt && git add s.txt && \
         git -c user.name=a -c user.email=a@b commit -qm s && cd .. && git add sub && \
         git -c user.name=a -c user.email=a@b commit -qm gitlink && \
         printf '[core]\\n\\tfsmonitor = \"touch {m}; false\"\\n[filter \"x\"]\\n\\tclean = sh -c \"touch {m}; cat\"\\n' >> sub/.git/config && \
         printf '* filter=x\\n' > sub/.gitattributes && echo changed > sub/s.txt && echo left > left.txt",
        m = marker.display()
    );
    env.agent(&["new", "--name", "nest", "t", "--", "/bin/sh", "-c", &script])
        .ok();
    env.wait_state("nest", "done");
    env.agent(&["show", "nest"]).ok();
    env.agent(&["list", "--full"]).ok();
    env.agent(&["conflicts"]);
    env.agent(&["review", "nest", "--stat"]);
    env.agent(&["rm", "nest"]);
    assert!(
        !marker.exists(),
        "a nested repository's config ran outside the sandbox"
    );
}

#[test]
fn the_private_temporary_folder_goes_with_the_session() {
    let env = TestEnv::new();
    env.spawn(&["--name", "scratch"], "try-write $TMPDIR/x.txt scratch\n");
    env.wait_state("scratch", "done");
    if in_force(&env, "scratch") == "none" {
        return;
    }
    let log = env.agent(&["logs", "scratch", "--raw"]).ok().stdout;
    let wrote = log
        .lines()
        .find_map(|l| l.strip_prefix("wrote "))
        .unwrap_or_else(|| panic!("{log}"));
    let tmp = std::path::Path::new(wrote).parent().unwrap().to_owned();
    assert!(tmp.is_dir());
    env.agent(&["rm", "scratch"]).ok();
    assert!(!tmp.exists(), "{} is left behind", tmp.display());
}

#[test]
fn sync_finishes_only_a_sync_git_agent_started() {
    let env = TestEnv::new();
    let marker = env.root().join("planted-exec-ran");
    // The agent plants a rebase in progress whose steps run a command, and a merge that
    // would land on another branch, then asks the user to "continue the sync".
    let script = format!(
        "echo work > work.txt && git add work.txt && git -c user.name=a -c user.email=a@b commit -qm work && \
         d=$(git rev-parse --git-dir)/rebase-merge && mkdir -p $d && \
         echo refs/heads/agent/planted > $d/head-name && git rev-parse HEAD > $d/onto && \
         git rev-parse HEAD > $d/orig-head && touch $d/interactive && : > $d/done && \
         printf 'exec touch {m}\\n' > $d/git-rebase-todo",
        m = marker.display()
    );
    env.agent(&[
        "new", "--name", "planted", "t", "--", "/bin/sh", "-c", &script,
    ])
    .ok();
    env.wait_state("planted", "done");
    for action in ["--continue", "--abort"] {
        let out = env.agent(&["sync", "planted", action]);
        assert_ne!(out.code, 0, "{action}: {out}");
        assert!(
            out.stderr.contains("is not the sync git-agent started"),
            "{action}: {out}"
        );
    }
    assert!(!marker.exists(), "the planted rebase ran its command");
}

#[test]
fn an_agent_on_a_branch_of_yours_cannot_move_your_other_branches() {
    let env = TestEnv::new();
    env.git(&["branch", "fixit"]);
    let main_before = env.git(&["rev-parse", "main"]);
    env.agent(&[
        "new",
        "--name",
        "fix",
        "--branch",
        "fixit",
        "t",
        "--",
        "/bin/sh",
        "-c",
        "echo e > e.txt && git add e.txt && git -c user.name=a -c user.email=a@b commit -qm evil; \
         git update-ref refs/heads/main HEAD; echo done",
    ])
    .ok();
    env.wait_state("fix", "done");
    if in_force(&env, "fix") == "none" {
        return;
    }
    assert_eq!(env.git(&["rev-parse", "main"]), main_before, "main moved");
    // What it did is still on its branch: git-agent committed what it left.
    assert_eq!(env.git(&["show", "fixit:e.txt"]), "e\n");
}

#[test]
fn a_setup_hook_running_an_agents_files_runs_in_the_sandbox() {
    let env = TestEnv::new();
    let marker = env.root().join("setup-ran-agent-code");
    env.write_executable("setup.sh", "#!/bin/sh\necho setting up\n");
    env.git(&["add", "."]);
    env.git(&["commit", "-q", "-m", "setup"]);
    env.git(&["config", "agent.setup", "./setup.sh"]);
    // From main, the user's own setup.sh runs as usual.
    env.spawn(
        &["--name", "a1"],
        &format!(
            "write setup.sh #!/bin/sh\\ntouch {}\\n\ncommit rewrite setup",
            marker.display()
        ),
    );
    env.wait_state("a1", "done");
    if in_force(&env, "a1") == "none" {
        return;
    }
    // A session started from the agent's branch runs the agent's setup.sh: in the sandbox.
    env.agent(&[
        "new",
        "--name",
        "a2",
        "--base",
        "agent/a1",
        "continue",
        "--",
        "/bin/true",
    ])
    .ok();
    env.wait_until("a2 to end", || {
        let s = env.stored_state("a2");
        s != "starting" && s != "setup" && s != "running"
    });
    assert!(
        !marker.exists(),
        "the agent's setup.sh ran outside the sandbox"
    );
    let log = env.agent(&["logs", "a2", "--raw"]).stdout;
    assert!(log.contains("Permission denied"), "{log}");
}

#[test]
fn what_an_agent_prints_cannot_drive_your_terminal() {
    let env = TestEnv::new();
    env.agent(&[
        "new",
        "--name",
        "esc",
        "t",
        "--",
        "/bin/sh",
        "-c",
        "printf 'last \\033]0;TITLE\\007\\033[1mBOLD\\n'",
    ])
    .ok();
    env.wait_state("esc", "done");
    for args in [vec!["list"], vec!["show", "esc"]] {
        let out = env.agent(&args).ok();
        assert!(!out.stdout.contains('\u{1b}'), "{args:?}: {out}");
        assert!(!out.stdout.contains('\u{7}'), "{args:?}: {out}");
        assert!(
            out.stdout.contains("^[]0;TITLE^G^[[1mBOLD"),
            "{args:?}: {out}"
        );
    }
}

/// A commit inside the sandbox makes git complain that it cannot lock `packed-refs` (it
/// deletes `AUTO_MERGE`; the commit succeeds): the complaint is not the agent's and reads as
/// a failure, so it is in neither the log nor the result.
#[test]
fn the_sandboxs_packed_refs_complaint_is_not_in_the_log() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "c", "t"],
        "write a.txt one\ncommit first\nwrite a.txt two\ncommit second\nprint all done",
    );
    env.wait_state("c", "done");
    if in_force(&env, "c") != "landlock" {
        eprintln!("skipped: this kernel has no Landlock");
        return;
    }
    let log = env.agent(&["logs", "c", "--raw"]).ok().stdout;
    assert!(log.contains("all done"), "{log}");
    assert!(!log.contains("packed-refs.lock"), "{log}");
    let commits = env.git(&["log", "--format=%s", "agent/c"]);
    assert!(commits.starts_with("second\nfirst"), "{commits}");
}
