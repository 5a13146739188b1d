//! The container runner's clone mode (`agent.runner.workspace = clone`) against a real
//! Docker: nothing of the host is mounted; the branch goes in and comes back as bundles.
//! Skips (saying why) where `docker info` fails. The agents' scripts are committed to the
//! repository: the container sees nothing of the host, not even a script file.

#![allow(clippy::disallowed_methods)] // drives docker directly to look at its containers

use std::process::Command;

use crate::runner_docker::{docker_or_skip, kill_client, log};
use crate::support::TestEnv;

/// A repository whose agents run in the test image, offline, in clones of their own.
fn clone_env(image: &str) -> TestEnv {
    let env = crate::runner_docker::docker_env(image);
    env.git(&["config", "agent.runner.workspace", "clone"]);
    env
}

/// Commits `script` to the repository as `.scripts/NAME` and starts session NAME with the
/// fake agent following it (a path relative to the clone it runs in); `extra` goes before
/// the agent.
pub(crate) fn spawn(env: &TestEnv, name: &str, script: &str, extra: &[&str]) {
    let rel = format!(".scripts/{name}");
    env.write(&rel, script);
    env.git(&["add", &rel]);
    env.git(&["commit", "-q", "-m", &format!("script for {name}")]);
    let mut args = vec!["new", "--name", name];
    args.extend_from_slice(extra);
    args.extend(["--", "fake-agent", "--script", &rel]);
    env.agent(&args).ok();
}

/// [`spawn`], then waits for the agent to print `ready` (the script's last word before it
/// lingers).
fn spawn_ready(env: &TestEnv, name: &str, script: &str, extra: &[&str]) {
    spawn(env, name, script, extra);
    env.wait_until("the agent to be ready", || log(env, name).contains("ready"));
}

/// A server on 127.0.0.1 that takes connections and never answers: its port.
fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    port
}

/// Our containers of `env`'s repository, running or not.
fn containers(env: &TestEnv) -> Vec<String> {
    crate::runner_docker::ours_in("docker", env, "-aq")
}

fn worktree(env: &TestEnv, name: &str) -> std::path::PathBuf {
    env.record(name)["worktree"].as_str().unwrap().into()
}

#[test]
fn a_clone_round_trips_the_branch_and_what_was_left_uncommitted() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    spawn(
        &env,
        "cloned",
        "write made.txt from the clone\ncommit add made\nwrite loose.txt left over\nprint finished\n",
        &[],
    );
    let record = env.wait_state("cloned", "done");
    assert_eq!(record["runner"]["workspace"], "clone", "{record}");
    let subjects = env.git(&["log", "--format=%s", "agent/cloned"]);
    let subjects: Vec<&str> = subjects.lines().collect();
    // The agent's commit, then the supervisor's commit of its leftovers, as for a local one.
    assert_eq!(
        subjects[1],
        "add made",
        "{subjects:?}\n{}",
        log(&env, "cloned")
    );
    let files = env.git(&["show", "--name-only", "--format=", "agent/cloned"]);
    assert_eq!(files.trim(), "loose.txt", "{subjects:?}");
    let wt = worktree(&env, "cloned");
    assert_eq!(
        std::fs::read_to_string(wt.join("made.txt")).unwrap(),
        "from the clone\n"
    );
    assert!(log(&env, "cloned").contains("finished"));
    let author = env.git(&["log", "-1", "--format=%an", "agent/cloned^"]);
    assert_eq!(author.trim(), "Test Author");
    let show = env.agent(&["show", "cloned"]).ok();
    assert!(
        show.stdout.contains("a clone of its own"),
        "{}",
        show.stdout
    );
    // Nothing is left: no container, no incoming or leftovers ref.
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
    let refs = env.git(&[
        "for-each-ref",
        "refs/agent-incoming",
        "refs/agent-leftovers",
    ]);
    assert!(refs.trim().is_empty(), "{refs}");
}

#[test]
fn without_auto_commit_the_leftovers_are_uncommitted_in_the_worktree() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    env.write("tracked.txt", "before\n");
    env.git(&["add", "tracked.txt"]);
    env.git(&["commit", "-q", "-m", "tracked"]);
    spawn(
        &env,
        "loose",
        "write tracked.txt after\nwrite new.txt new\n",
        &["--no-auto-commit"],
    );
    env.wait_state("loose", "done");
    let wt = worktree(&env, "loose");
    let status = env.git(&["-C", wt.to_str().unwrap(), "status", "--porcelain"]);
    assert!(status.contains(" M tracked.txt"), "{status}");
    assert!(status.contains("?? new.txt"), "{status}");
    let tip = env.git(&["log", "-1", "--format=%s", "agent/loose"]);
    assert_eq!(tip.trim(), "script for loose");
}

#[test]
fn a_clone_sees_nothing_of_the_host() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    let readme = env.repo.join("README.md");
    let git_dir = env.repo.join(".git");
    let home = env.home.join(".gitconfig");
    let probe = format!(
        "for p in {} {} {}; do if test -e $p; then echo SEEN $p; else echo ABSENT $p; fi; done; pwd; echo $GIT_AGENT_WORKTREE",
        readme.display(),
        git_dir.display(),
        home.display(),
    );
    env.agent(&["new", "--name", "peek", "--", "sh", "-c", &probe])
        .ok();
    env.wait_state("peek", "done");
    let out = log(&env, "peek");
    for p in [&readme, &git_dir, &home] {
        assert!(out.contains(&format!("ABSENT {}", p.display())), "{out}");
    }
    let wt = worktree(&env, "peek");
    let inside = format!("/git-agent/{}", wt.file_name().unwrap().to_string_lossy());
    assert!(out.contains(&format!("{inside}\n{inside}\n")), "{out}");
}

#[test]
fn stop_hands_back_the_work_even_from_an_agent_that_ignores_term() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    spawn_ready(
        &env,
        "stubborn",
        "write first.txt 1\ncommit first\nwrite second.txt 2\nignore-term\nprint ready\nsleep 300\n",
        &[],
    );
    env.agent(&["stop", "stubborn", "--grace", "1"]).ok();
    assert_eq!(env.stored_state("stubborn"), "stopped");
    let subjects = env.git(&["log", "--format=%s", "agent/stubborn"]);
    assert!(
        subjects.lines().nth(1) == Some("first"),
        "{subjects}\n{}",
        log(&env, "stubborn")
    );
    let files = env.git(&["show", "--name-only", "--format=", "agent/stubborn"]);
    assert_eq!(files.trim(), "second.txt", "{subjects}");
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
}

#[test]
fn after_a_crash_stop_keeps_what_the_container_made_and_resume_waits_for_it() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    spawn_ready(
        &env,
        "crashed",
        "write kept.txt k\ncommit kept\nwrite loose.txt l\nprint ready\nsleep 300\n",
        &[],
    );
    env.kill_supervisor("crashed");
    kill_client(&env, "crashed");
    env.agent(&["stop", "crashed"]).ok();
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
    // The branch did not move behind the user's back; the work waits under our refs.
    let tip = env.git(&["log", "-1", "--format=%s", "agent/crashed"]);
    assert_eq!(tip.trim(), "script for crashed");
    let kept = env.git(&["log", "-1", "--format=%s", "refs/agent-incoming/crashed"]);
    assert_eq!(kept.trim(), "kept");
    let loose = env.git(&["show", "refs/agent-leftovers/crashed:loose.txt"]);
    assert_eq!(loose, "l\n");
    // A new run would start from the branch without it: refused, saying where it is.
    let out = env.agent(&["resume", "crashed", "-m", "go on"]);
    let record = env.wait_state("crashed", "failed");
    let reason = record.to_string();
    assert!(
        reason.contains("refs/agent-leftovers/crashed")
            || out.stderr.contains("refs/agent-leftovers/crashed"),
        "{reason}\n{}",
        out.stderr
    );
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
    // rm does not drop that work silently: refused, then kept (and said) when forced.
    let out = env.agent(&["rm", "crashed"]).code(1);
    assert!(out.stderr.contains("refs/agent-"), "{}", out.stderr);
    assert!(
        out.stderr.contains("git agent rm --force crashed"),
        "{}",
        out.stderr
    );
    assert!(env.has_record("crashed"));
    let out = env.agent(&["rm", "--force", "crashed"]).ok();
    assert!(
        out.stderr.contains("kept as refs/agent-incoming/crashed"),
        "{}",
        out.stderr
    );
    assert!(!env.has_record("crashed"));
    let kept = env.git(&[
        "for-each-ref",
        "--format=%(refname)",
        "refs/agent-incoming",
        "refs/agent-leftovers",
    ]);
    assert_eq!(kept.lines().count(), 2, "{kept}");
}

#[test]
fn an_engine_on_another_machine_needs_clone_mode() {
    if which::which("docker").is_err() {
        eprintln!("skipped: no docker on PATH");
        return;
    }
    let mut env = TestEnv::new();
    env.git(&["config", "agent.image", "some/image"]);
    env.set_env("DOCKER_HOST", "tcp://127.0.0.1:9");
    let out = env
        .agent(&[
            "new",
            "--name",
            "far",
            "--runner",
            "docker",
            "--",
            "fake-agent",
        ])
        .code(128);
    assert!(out.stderr.contains("tcp://127.0.0.1:9"), "{}", out.stderr);
    assert!(
        out.stderr.contains("agent.runner.workspace clone"),
        "{}",
        out.stderr
    );
    assert!(!env.has_record("far"));
    env.git(&["config", "agent.runner.workspace", "sideways"]);
    let out = env
        .agent(&[
            "new",
            "--name",
            "far",
            "--runner",
            "docker",
            "--",
            "fake-agent",
        ])
        .code(2);
    assert!(out.stderr.contains("sideways"), "{}", out.stderr);
}

#[test]
fn a_remote_engine_over_ssh_runs_the_clone() {
    let image = docker_or_skip!();
    let mut env = clone_env(&image);
    let Some(sshd) = crate::support::sshd::Sshd::start(&mut env) else {
        return;
    };
    // Docker's CLI runs `ssh` from PATH: one that uses the test's client config.
    let bin = env.root().join("ssh-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} \"$@\"\n",
            sshd.ssh_command.replacen("ssh", "/usr/bin/ssh", 1)
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), env.env_value("PATH"));
    env.set_env("PATH", &path);
    env.set_env(
        "DOCKER_HOST",
        &format!("ssh://root@127.0.0.1:{}", sshd.port),
    );
    spawn(
        &env,
        "far",
        "write far.txt over there\ncommit made far away\n",
        &[],
    );
    let record = env.wait_state("far", "done");
    assert_eq!(
        record["runner"]["host"],
        format!("ssh://root@127.0.0.1:{}", sshd.port),
        "{record}"
    );
    let tip = env.git(&["log", "-1", "--format=%s", "agent/far"]);
    assert_eq!(tip.trim(), "made far away", "{}", log(&env, "far"));
    let show = env.agent(&["show", "far"]).ok();
    assert!(show.stdout.contains("docker at ssh://"), "{}", show.stdout);
    // `stop` from a shell whose DOCKER_HOST names another engine reaches the recorded one.
    spawn_ready(
        &env,
        "far2",
        "write w.txt w
commit before the stop
print ready
sleep 300
",
        &[],
    );
    env.set_env("DOCKER_HOST", "tcp://127.0.0.1:9");
    env.agent(&["stop", "far2"]).ok();
    let tip = env.git(&["log", "-1", "--format=%s", "agent/far2"]);
    assert_eq!(tip.trim(), "before the stop", "{}", log(&env, "far2"));
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
}

#[test]
fn a_commit_made_here_meanwhile_is_never_overwritten() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    spawn_ready(
        &env,
        "raced",
        "write agent.txt a\ncommit agent work\nwrite loose.txt l\nprint ready\nsleep 2\n",
        &[],
    );
    // The user commits on the session's branch in its worktree while the agent works
    // elsewhere, and leaves an edit of their own.
    let wt = worktree(&env, "raced");
    std::fs::write(wt.join("mine.txt"), "mine\n").unwrap();
    let git_wt = |args: &[&str]| {
        let mut all = vec!["-C", wt.to_str().unwrap()];
        all.extend_from_slice(args);
        env.git(&all)
    };
    git_wt(&["add", "mine.txt"]);
    git_wt(&["commit", "-q", "-m", "mine"]);
    std::fs::write(wt.join("draft.txt"), "draft\n").unwrap();
    let record = env.wait_state("raced", "failed");
    let reason = record.to_string();
    assert!(reason.contains("refs/agent-incoming/raced"), "{reason}");
    // Theirs is untouched; the agent's is kept, whole.
    assert_eq!(git_wt(&["log", "-1", "--format=%s"]).trim(), "mine");
    assert_eq!(
        std::fs::read_to_string(wt.join("draft.txt")).unwrap(),
        "draft\n"
    );
    assert!(!wt.join("agent.txt").exists());
    let kept = env.git(&["log", "-1", "--format=%s", "refs/agent-incoming/raced"]);
    assert_eq!(kept.trim(), "agent work");
    let loose = env.git(&["show", "refs/agent-leftovers/raced:loose.txt"]);
    assert_eq!(loose, "l\n");
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
}

#[test]
fn an_edit_made_here_meanwhile_keeps_the_leftovers_aside() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    spawn_ready(
        &env,
        "edited",
        "write agent.txt a\ncommit agent work\nwrite loose.txt l\nprint ready\nsleep 2\n",
        &["--no-auto-commit"],
    );
    let wt = worktree(&env, "edited");
    std::fs::write(wt.join("draft.txt"), "draft\n").unwrap();
    let record = env.wait_state("edited", "failed");
    let reason = record.to_string();
    assert!(reason.contains("refs/agent-leftovers/edited"), "{reason}");
    // The agent's commit came in (the edit was not in its way); the draft is untouched and
    // the leftovers wait aside rather than mix with it.
    assert_eq!(
        std::fs::read_to_string(wt.join("agent.txt")).unwrap(),
        "a\n"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("draft.txt")).unwrap(),
        "draft\n"
    );
    assert!(!wt.join("loose.txt").exists());
    let loose = env.git(&["show", "refs/agent-leftovers/edited:loose.txt"]);
    assert_eq!(loose, "l\n");
}

/// `git daemon` on 127.0.0.1 serving `root` read-only; killed on drop.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

#[test]
fn clone_from_takes_the_history_from_the_remote_and_the_rest_from_here() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    let served = env.root().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let bare = served.join("origin.git");
    env.git(&[
        "clone",
        "-q",
        "--bare",
        env.repo.to_str().unwrap(),
        bare.to_str().unwrap(),
    ]);
    // A branch only the remote has: the agent sees it only if its clone came from there.
    env.git(&[
        "--git-dir",
        bare.to_str().unwrap(),
        "branch",
        "only-upstream",
        "HEAD",
    ]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // In a process group of its own: `git daemon` starts `git-daemon` as its child, and the
    // whole group goes at the end.
    use std::os::unix::process::CommandExt as _;
    let daemon = Command::new("git")
        .process_group(0)
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", served.display()))
        .arg(&served)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(daemon) = daemon else {
        eprintln!("skipped: no git daemon here");
        return;
    };
    let _daemon = Daemon(daemon);
    let url = format!("git://127.0.0.1:{port}/origin.git");
    env.wait_until("git daemon to serve", || {
        Command::new("git")
            .args(["ls-remote", &url])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    env.git(&["remote", "add", "origin", &url]);
    env.git(&["config", "agent.runner.cloneFrom", "origin"]);
    env.git(&["config", "agent.runner.network", "host"]);
    // A commit here that the remote lacks: it comes in the bundle.
    env.write("local.txt", "only here\n");
    env.git(&["add", "local.txt"]);
    env.git(&["commit", "-q", "-m", "not pushed"]);
    let probe =
        "git branch -r; cat local.txt; echo more >> local.txt; git commit -qam 'from the clone'";
    env.agent(&["new", "--name", "upstream", "--", "sh", "-c", probe])
        .ok();
    let record = env.wait_state("upstream", "done");
    assert_eq!(record["runner"]["clone_from"], url.as_str(), "{record}");
    let out = log(&env, "upstream");
    assert!(out.contains("origin/only-upstream"), "{out}");
    assert!(out.contains("only here"), "{out}");
    let tip = env.git(&["log", "-1", "--format=%s", "agent/upstream"]);
    assert_eq!(tip.trim(), "from the clone", "{out}");
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));

    // Without network the clone cannot be made: the run fails saying so, and nothing is lost.
    env.git(&["config", "agent.runner.network", "none"]);
    env.agent(&["new", "--name", "offline", "--", "sh", "-c", "true"])
        .ok();
    env.wait_state("offline", "failed");
    assert!(
        log(&env, "offline").contains("could not clone"),
        "{}",
        log(&env, "offline")
    );
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
}

#[test]
fn clone_from_needs_clone_mode() {
    if which::which("docker").is_err() {
        eprintln!("skipped: no docker on PATH");
        return;
    }
    let env = TestEnv::new();
    env.git(&["config", "agent.image", "some/image"]);
    env.git(&["config", "agent.runner.cloneFrom", "origin"]);
    let out = env
        .agent(&[
            "new",
            "--name",
            "m",
            "--runner",
            "docker",
            "--",
            "fake-agent",
        ])
        .code(2);
    assert!(
        out.stderr.contains("agent.runner.workspace clone"),
        "{}",
        out.stderr
    );
    assert!(!env.has_record("m"));
}

/// Waits until session `name` no longer runs; its stored state.
#[track_caller]
fn wait_ended(env: &TestEnv, name: &str) -> String {
    env.wait_until(&format!("{name} to end ({})", env.record(name)), || {
        !matches!(env.stored_state(name).as_str(), "running" | "starting")
    });
    env.stored_state(name)
}

#[test]
fn an_agent_that_leaves_deletes_or_rewinds_its_branch_loses_nothing() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    // Commits on another branch, and a file left there: kept under the leftovers ref.
    let wander = "git checkout -q -b elsewhere && echo e > e.txt && git add e.txt && \
                  git commit -qm 'on another branch' && echo l > loose.txt";
    env.agent(&["new", "--name", "wander", "--", "sh", "-c", wander])
        .ok();
    // Commits on a detached HEAD, deletes its branch and plants a "nothing new" answer.
    let forged = "git checkout -q --detach && git branch -D \"$GIT_AGENT_BRANCH\" && \
                  echo f > f.txt && git add f.txt && git commit -qm forged && \
                  echo x > /git-agent/result.same";
    env.agent(&["new", "--name", "forged", "--", "sh", "-c", forged])
        .ok();
    // Moves its branch back past what it was given: the branch here stays as it was.
    env.write("older.txt", "o\n");
    env.git(&["add", "older.txt"]);
    env.git(&["commit", "-q", "-m", "older"]);
    env.agent(&[
        "new",
        "--name",
        "rewound",
        "--",
        "sh",
        "-c",
        "git reset -q --hard HEAD~1",
    ])
    .ok();
    // Hides untracked files from a plain `git status` in its clone.
    let hidden = "git config status.showUntrackedFiles no && echo n > new.txt";
    env.agent(&["new", "--name", "hidden", "--", "sh", "-c", hidden])
        .ok();
    // Breaks its clone's index, or has its clone's config ignore every file.
    let broken = "echo b > broken.txt && echo garbage > .git/index";
    env.agent(&["new", "--name", "broken", "--", "sh", "-c", broken])
        .ok();
    let excluded = "echo '*' > ../ex && git config core.excludesFile ../ex && echo x > x.txt";
    env.agent(&["new", "--name", "excluded", "--", "sh", "-c", excluded])
        .ok();
    for name in ["wander", "forged"] {
        let state = wait_ended(&env, name);
        let record = env.record(name).to_string();
        assert_eq!(state, "failed", "{record}\n{}", log(&env, name));
        let kept = format!("refs/agent-leftovers/{name}");
        assert!(record.contains(&kept), "{record}");
        let subjects = env.git(&["log", "--format=%s", &kept]);
        let made = if name == "wander" {
            "on another branch"
        } else {
            "forged"
        };
        assert!(subjects.contains(made), "{subjects}");
    }
    assert_eq!(
        env.git(&["show", "refs/agent-leftovers/wander:loose.txt"]),
        "l\n"
    );
    assert_eq!(
        wait_ended(&env, "rewound"),
        "done",
        "{}\n{}",
        env.record("rewound"),
        log(&env, "rewound")
    );
    let tip = env.git(&["log", "-1", "--format=%s", "agent/rewound"]);
    assert_eq!(tip.trim(), "older");
    assert_eq!(
        wait_ended(&env, "hidden"),
        "done",
        "{}",
        log(&env, "hidden")
    );
    assert_eq!(env.git(&["show", "agent/hidden:new.txt"]), "n\n");
    for (name, file, content) in [
        ("excluded", "x.txt", "x\n"),
        ("broken", "broken.txt", "b\n"),
    ] {
        assert_eq!(wait_ended(&env, name), "done", "{}", log(&env, name));
        let got = env.git(&["show", &format!("agent/{name}:{file}")]);
        assert_eq!(got, content);
    }
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
}

#[test]
fn a_container_killed_before_it_handed_back_is_kept_until_the_user_says() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    spawn_ready(
        &env,
        "shot",
        "write kept.txt k\ncommit kept\nprint ready\nsleep 300\n",
        &[],
    );
    let name = env.record("shot")["runner"]["container"]
        .as_str()
        .unwrap()
        .to_owned();
    // Someone else kills it: the wrapper gets no chance to hand back the work.
    let killed = Command::new("docker")
        .args(["kill", "--signal", "KILL", &name])
        .output()
        .unwrap();
    assert!(killed.status.success(), "{killed:?}");
    assert_eq!(wait_ended(&env, "shot"), "failed");
    let reason = env.record("shot").to_string();
    assert!(reason.contains("handed back no result"), "{reason}");
    assert_eq!(containers(&env).len(), 1);
    // Its clone holds the commit: neither a new run nor rm removes it unasked.
    env.agent(&["resume", "shot", "-m", "go on"]);
    assert_eq!(wait_ended(&env, "shot"), "failed");
    assert_eq!(containers(&env).len(), 1, "{}", env.record("shot"));
    let out = env.agent(&["rm", "shot"]).code(1);
    assert!(out.stderr.contains(&name), "{}", out.stderr);
    assert!(
        out.stderr.contains("git agent rm --force shot"),
        "{}",
        out.stderr
    );
    assert!(env.has_record("shot"));
    assert_eq!(containers(&env).len(), 1);
    let out = env.agent(&["rm", "--force", "shot"]).ok();
    assert!(out.stderr.contains(&name), "{}", out.stderr);
    assert!(!env.has_record("shot"));
    // doctor names it, and its --fix leaves it too.
    let report = env.agent(&["doctor", "--fix"]);
    assert!(report.stdout.contains("agent's clone"), "{}", report.stdout);
    assert_eq!(containers(&env).len(), 1, "{}", report.stdout);
    // Still there to copy the work out of; the user removes it.
    let copied = Command::new("docker")
        .args(["cp", &format!("{name}:/git-agent"), "-"])
        .output()
        .unwrap();
    assert!(copied.status.success(), "{copied:?}");
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
}

#[test]
fn a_file_ignored_here_is_never_overwritten_by_what_comes_back() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    env.write(".gitignore", "secret.env\n");
    env.git(&["add", ".gitignore"]);
    env.git(&["commit", "-q", "-m", "ignore the secret"]);
    // The agent stops ignoring the file and writes its own: committed in one session, left
    // uncommitted in the other. Meanwhile the user keeps their (ignored) one in each worktree.
    spawn_ready(
        &env,
        "committed",
        "write .gitignore other\nwrite secret.env the agent's\ncommit unignore\nprint ready\nsleep 2\n",
        &[],
    );
    spawn_ready(
        &env,
        "loose",
        "write .gitignore other\nwrite secret.env the agent's\nprint ready\nsleep 2\n",
        &[],
    );
    for name in ["committed", "loose"] {
        std::fs::write(worktree(&env, name).join("secret.env"), "mine\n").unwrap();
    }
    for (name, kept) in [
        ("committed", "refs/agent-incoming/committed"),
        ("loose", "refs/agent-leftovers/loose"),
    ] {
        let state = wait_ended(&env, name);
        let record = env.record(name).to_string();
        assert_eq!(
            std::fs::read_to_string(worktree(&env, name).join("secret.env")).unwrap(),
            "mine\n",
            "{record}"
        );
        assert_eq!(state, "failed", "{record}");
        assert!(record.contains(kept), "{record}");
        let theirs = env.git(&["show", &format!("{kept}:secret.env")]);
        assert_eq!(theirs, "the agent's\n");
    }
}

#[test]
fn a_branch_the_agent_rewrote_is_kept_aside_and_said_so() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    let rewrite = "git checkout -q --orphan fresh && git rm -rqf . && echo r > r.txt && \
                   git add r.txt && git commit -qm 'a new root' && \
                   git branch -M fresh \"$GIT_AGENT_BRANCH\"";
    env.agent(&["new", "--name", "rewrote", "--", "sh", "-c", rewrite])
        .ok();
    assert_eq!(
        wait_ended(&env, "rewrote"),
        "failed",
        "{}",
        log(&env, "rewrote")
    );
    let reason = env.record("rewrote").to_string();
    assert!(reason.contains("refs/agent-incoming/rewrote"), "{reason}");
    // Nobody moved the branch here: the error does not say so.
    assert!(!reason.contains("moved here while"), "{reason}");
    assert!(reason.contains("does not descend from"), "{reason}");
    let kept = env.git(&["log", "-1", "--format=%s", "refs/agent-incoming/rewrote"]);
    assert_eq!(kept.trim(), "a new root");
    let tip = env.git(&["rev-parse", "agent/rewrote"]);
    assert_eq!(tip, env.git(&["rev-parse", "main"]));
}

#[test]
fn a_container_stopped_before_its_agent_started_holds_nothing_and_goes() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    // A server that takes the connection and never answers: the clone hangs. The host's
    // own look at it goes elsewhere (refused at once).
    let port = silent_server();
    let url = format!("git://127.0.0.1:{port}/slow.git");
    env.git(&["config", "agent.runner.cloneFrom", &url]);
    env.git(&["config", "agent.runner.network", "host"]);
    env.git(&["config", "url.git://127.0.0.1:1/.insteadOf", &url]);
    env.agent(&["new", "--name", "early", "--", "sh", "-c", "echo never"])
        .ok();
    env.wait_until("the container to run", || {
        !containers(&env).is_empty() && env.stored_state("early") == "running"
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    env.agent(&["stop", "early", "--grace", "1"]).ok();
    let record = env.record("early");
    assert!(!log(&env, "early").contains("never"), "{record}");
    assert!(containers(&env).is_empty(), "{record}");
    assert_eq!(env.stored_state("early"), "stopped", "{record}");
    // Nothing holds the session.
    env.agent(&["rm", "early"]).ok();
}

#[test]
fn a_clone_from_that_never_answers_does_not_hold_the_run_forever() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    let port = silent_server();
    let url = format!("git://127.0.0.1:{port}/silent.git");
    env.git(&["config", "agent.runner.cloneFrom", &url]);
    env.git(&["config", "agent.runner.network", "host"]);
    env.agent(&["new", "--name", "silent", "--", "sh", "-c", "echo never"])
        .ok();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let started = std::time::Instant::now();
    env.agent(&["stop", "silent", "--grace", "1"]).ok();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let state = wait_ended(&env, "silent");
    assert_ne!(state, "done", "{}", env.record("silent"));
    assert!(containers(&env).is_empty(), "{}", env.record("silent"));
}

#[test]
fn a_status_file_the_agent_made_a_symlink_reads_nothing_here() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    let secret = env.root().join("secret.txt");
    std::fs::write(&secret, "TOPSECRET\n").unwrap();
    spawn(
        &env,
        "pointer",
        &format!("symlink {} /git-agent/status\n", secret.display()),
        &[],
    );
    wait_ended(&env, "pointer");
    let status = env.state_dir().join("sessions/pointer/status");
    let meta = std::fs::symlink_metadata(&status);
    assert!(
        meta.as_ref().map_or(true, |m| !m.file_type().is_symlink()),
        "{meta:?}"
    );
    let show = env.agent(&["show", "pointer"]).ok();
    assert!(!show.stdout.contains("TOPSECRET"), "{}", show.stdout);
}

#[test]
fn a_result_that_fails_its_checks_is_kept_in_the_container_and_said_how_to_drop_it() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    // A commit git's object checks refuse (no email in its author line).
    let bad = "t=$(git rev-parse 'HEAD^{tree}') && p=$(git rev-parse HEAD) && \
               c=$(printf 'tree %s\\nparent %s\\nauthor nobody\\ncommitter nobody\\n\\nbad\\n' $t $p | \
               git hash-object -t commit --literally -w --stdin) && \
               git update-ref \"refs/heads/$GIT_AGENT_BRANCH\" $c";
    env.agent(&["new", "--name", "bad", "--", "sh", "-c", bad])
        .ok();
    assert_eq!(wait_ended(&env, "bad"), "failed", "{}", log(&env, "bad"));
    let name = env.record("bad")["runner"]["container"]
        .as_str()
        .unwrap()
        .to_owned();
    let reason = env.record("bad").to_string();
    assert!(reason.contains(&format!("docker rm {name}")), "{reason}");
    assert_eq!(containers(&env).len(), 1);
    let tip = env.git(&["rev-parse", "agent/bad"]);
    assert_eq!(tip, env.git(&["rev-parse", "main"]));
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
}

#[test]
fn rm_force_of_a_running_clone_keeps_its_work_on_the_branch() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    spawn_ready(
        &env,
        "busy",
        "write made.txt m\ncommit made\nwrite loose.txt l\nprint ready\nsleep 300\n",
        &[],
    );
    let out = env.agent(&["rm", "--force", "busy"]);
    assert!(!env.has_record("busy"), "{}\n{}", out.stdout, out.stderr);
    let kept = env.git(&[
        "for-each-ref",
        "--format=%(refname)",
        "refs/heads/agent/busy",
        "refs/agent-incoming",
        "refs/agent-leftovers",
    ]);
    let all = env.git(&["log", "--all", "--format=%s"]);
    assert!(all.contains("made"), "{kept}\n{all}\n{}", out.stderr);
    let trees = env.git(&["log", "--all", "--format=", "--name-only"]);
    assert!(
        trees.contains("loose.txt"),
        "{kept}\n{trees}\n{}",
        out.stderr
    );
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
}

#[test]
fn a_worktree_switched_to_another_branch_meanwhile_is_left_alone() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    spawn_ready(
        &env,
        "switched",
        "write agent.txt a\ncommit agent work\nwrite loose.txt l\nprint ready\nsleep 2\n",
        &[],
    );
    let wt = worktree(&env, "switched");
    let before = env.git(&["rev-parse", "agent/switched"]);
    env.git(&["-C", wt.to_str().unwrap(), "switch", "-q", "-c", "mine"]);
    assert_eq!(wait_ended(&env, "switched"), "failed");
    let reason = env.record("switched").to_string();
    assert!(reason.contains("refs/agent-incoming/switched"), "{reason}");
    // Neither the user's branch nor the session's moved; the agent's work waits aside.
    assert_eq!(env.git(&["rev-parse", "mine"]), before);
    assert_eq!(env.git(&["rev-parse", "agent/switched"]), before);
    assert!(!wt.join("agent.txt").exists());
    assert!(!wt.join("loose.txt").exists());
    let kept = env.git(&["log", "-1", "--format=%s", "refs/agent-incoming/switched"]);
    assert_eq!(kept.trim(), "agent work");
    let loose = env.git(&["show", "refs/agent-leftovers/switched:loose.txt"]);
    assert_eq!(loose, "l\n");
}

#[test]
fn a_worktree_removed_meanwhile_loses_nothing_of_the_agent() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    spawn_ready(
        &env,
        "gone",
        "write agent.txt a\ncommit agent work\nwrite loose.txt l\nprint ready\nsleep 2\n",
        &[],
    );
    std::fs::remove_dir_all(worktree(&env, "gone")).unwrap();
    let state = wait_ended(&env, "gone");
    let record = env.record("gone").to_string();
    assert_eq!(state, "failed", "{record}");
    let all = env.git(&["log", "--all", "--format=%s"]);
    assert!(all.contains("agent work"), "{record}\n{all}");
    let loose = env.git(&["show", "refs/agent-leftovers/gone:loose.txt"]);
    assert_eq!(loose, "l\n", "{record}");
    // And a new run waits for it.
    let out = env.agent(&["resume", "gone", "-m", "again"]);
    let _ = wait_ended(&env, "gone");
    let all = format!("{}{}{}", out.stderr, env.record("gone"), log(&env, "gone"));
    assert!(all.contains("refs/agent-"), "{all}");
}

#[test]
fn a_repository_the_agent_made_inside_its_clone_keeps_the_container() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    let nested = "echo a > a.txt && git init -q sub && echo s > sub/s.txt";
    env.agent(&["new", "--name", "nested", "--", "sh", "-c", nested])
        .ok();
    assert_eq!(
        wait_ended(&env, "nested"),
        "failed",
        "{}",
        log(&env, "nested")
    );
    let name = env.record("nested")["runner"]["container"]
        .as_str()
        .unwrap()
        .to_owned();
    let reason = env.record("nested").to_string();
    assert!(reason.contains("sub"), "{reason}");
    assert!(reason.contains(&format!("docker rm {name}")), "{reason}");
    // The rest came back (uncommitted: the run failed); what could not is still in the
    // container.
    let wt = worktree(&env, "nested");
    assert_eq!(std::fs::read_to_string(wt.join("a.txt")).unwrap(), "a\n");
    assert_eq!(containers(&env).len(), 1);
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
}

#[test]
fn a_session_named_like_a_file_of_ours_runs() {
    let image = docker_or_skip!();
    let env = clone_env(&image);
    let made = "echo s > made.txt && git add made.txt && git commit -qm made";
    env.agent(&["new", "--name", "status", "--", "sh", "-c", made])
        .ok();
    assert_eq!(
        wait_ended(&env, "status"),
        "done",
        "{}",
        log(&env, "status")
    );
    let tip = env.git(&["log", "-1", "--format=%s", "agent/status"]);
    assert_eq!(tip.trim(), "made");
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
}
