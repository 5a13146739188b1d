//! Attacks on the runners (issue 17): what a remote, a plugin or a user acting meanwhile can
//! do to the local repository when a run's work is brought back, and the SSH runner where its
//! paths are long.

use crate::runner_plugin::plugin_env;
use crate::runner_ssh::start;
use crate::support::TestEnv;
use crate::support::sshd::Sshd;

/// The user checked out a branch of their own in the session's worktree between runs: the
/// agent's next run must not move *that* branch (bring_back fast-forwards whatever the
/// worktree's HEAD is); the work stays under the session's branch or its incoming ref.
#[test]
fn bringing_back_never_moves_a_branch_the_user_checked_out_in_the_worktree() {
    let mut env = TestEnv::new();
    let Some(sshd) = Sshd::start(&mut env) else {
        return;
    };
    start(
        &env,
        &sshd,
        "swap",
        "task",
        "append notes.txt a run\ncommit a run\n",
    );
    let record = env.wait_state("swap", "done");
    let worktree = std::path::PathBuf::from(record["worktree"].as_str().unwrap());
    env.git_in(&worktree, &["checkout", "-q", "-b", "mine"]);
    let mine_before = env.git(&["rev-parse", "mine"]);
    env.agent(&["send", "swap", "carry on"]).ok();
    env.wait_until("the second run to end", || {
        let r = env.record("swap");
        r["runs"].as_array().map_or(0, Vec::len) == 2 && r["state"] != "running"
    });
    assert_eq!(
        env.git(&["rev-parse", "mine"]),
        mine_before,
        "the user's branch 'mine' was moved by the agent's result"
    );
    // The agent's second commit is kept: on its branch or under its incoming ref.
    let kept = env.git(&[
        "log",
        "--format=%s",
        "--branches=agent/swap",
        "--glob=refs/agent-incoming/*",
        "^main",
    ]);
    assert_eq!(kept.lines().count(), 2, "{kept}");
}

/// A repository whose `.git/agent/ssh-%C` is under 100 bytes as written but over the Unix
/// socket limit once ssh expands `%C` (40 hex digits): every ssh call failed with
/// "ControlPath too long".
#[test]
fn a_repository_at_a_deep_path_still_runs_over_ssh() {
    let base = std::env::temp_dir().join("deep-enough-for-a-control-path-xxxxx");
    std::fs::create_dir_all(&base).unwrap();
    let mut env = TestEnv::new_in(&base);
    let Some(sshd) = Sshd::start(&mut env) else {
        return;
    };
    let control = env.repo.join(".git/agent/ssh-%C");
    let len = control.as_os_str().len();
    assert!((70..100).contains(&len), "{len}: {}", control.display());
    start(
        &env,
        &sshd,
        "deep",
        "task",
        "write deep.txt deep\ncommit deep work\n",
    );
    let record = env.wait_state("deep", "done");
    let log = env.git(&["log", "--format=%s", "-1", "agent/deep"]);
    assert_eq!(log.trim(), "deep work", "{record:#}");
}

/// Run 1's result could not be brought in (the user committed on the branch meanwhile) and
/// waits under `refs/agent-incoming/NAME`; a follow-up run must not overwrite it with its own
/// result (that ref has no reflog: run 1's work would be gone).
#[test]
fn a_kept_result_is_never_overwritten_by_the_next_run() {
    let env = plugin_env();
    let go = env.path("go");
    env.spawn(
        &["--runner", "testplug", "--name", "kept", "t"],
        &format!(
            "wait-for {}\nwrite a-$GIT_AGENT_RUN.txt agent\ncommit agent",
            go.display()
        ),
    );
    env.call_of("kept");
    let worktree = env.agents_dir().join("kept");
    std::fs::write(worktree.join("mine.txt"), "user\n").unwrap();
    env.git_in(&worktree, &["add", "mine.txt"]);
    env.git_in(&worktree, &["commit", "-q", "-m", "the user's own"]);
    env.touch("go");
    env.wait_state("kept", "failed");
    let run1 = env.git(&["rev-parse", "refs/agent-incoming/kept"]);
    let run1 = run1.trim();
    // Refused at once (or, were it started, its result refused): either way run 1 stays.
    let out = env.agent(&["send", "kept", "more"]);
    if out.code == 0 {
        env.wait_until("run 2 to end", || {
            let r = env.record("kept");
            r["runs"].as_array().map_or(0, Vec::len) == 2 && r["state"] != "running"
        });
    } else {
        assert!(out.stderr.contains("refs/agent-incoming/kept"), "{out}");
        assert!(
            out.stderr.contains("git merge refs/agent-incoming/kept"),
            "{out}"
        );
    }
    let holders = env.git(&["for-each-ref", "--contains", run1]);
    assert!(
        !holders.trim().is_empty(),
        "run 1's work ({run1}) is on no ref any more: {:#}",
        env.record("kept")
    );
}

/// An agent in a container may write its branch's reflog folder and its worktree's admin
/// folder (a commit needs them). A symlink it leaves there, to a file of the host it cannot
/// see, must not be followed by git-agent's own git on the host: the commit of its leftovers
/// appended a reflog line to (or created) whatever the link named, outside every mount.
#[test]
fn a_symlinked_reflog_left_by_a_contained_agent_writes_nothing_outside() {
    let Some(image) = crate::runner_docker::image() else {
        eprintln!("skipped: 'docker info' fails (no Docker daemon here)");
        return;
    };
    let env = crate::runner_docker::docker_env(&image);
    let victim = env.path("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let created = env.path("created.txt");
    let git = env.repo.join(".git");
    let script = format!(
        "symlink {victim} {branch_log}\nsymlink {created} {admin}/logs/HEAD\nwrite left.txt leftover\n",
        victim = victim.display(),
        created = created.display(),
        branch_log = git.join("logs/refs/heads/agent/esc").display(),
        admin = git.join("worktrees/esc").display(),
    );
    crate::runner_docker::spawn(&env, "esc", &script);
    let record = env.wait_state("esc", "done");
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "precious\n",
        "{record:#}"
    );
    assert!(!created.exists(), "{record:#}");
    // Nothing was run there: the leftovers wait, uncommitted, and the record says why.
    assert_eq!(record["commit"]["status"], "skipped", "{record:#}");
    let reason = record["commit"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("is a symlink"), "{reason}");
    // A command that would run git there refuses, and says how to mend it: the link goes
    // (`git worktree repair` would leave it).
    let out = env.agent(&["merge", "esc", "--dry-run"]).code(128);
    assert!(out.stderr.contains("is a symlink"), "{out}");
    assert!(
        out.stderr
            .contains("hint: a symlink git would write through"),
        "{out}"
    );
    assert!(out.stderr.contains("rm "), "{out}");
}

/// The SSH runner's shared connection (`ControlMaster`) listens on a socket under the git
/// directory, which a container sees (read-only, but a socket on a read-only mount still
/// connects): an agent in a container of the same user could run commands on the SSH host
/// through it, with the user's credentials it was never given.
#[test]
fn a_contained_agent_cannot_reach_the_ssh_runners_connection() {
    let Some(image) = crate::runner_docker::image() else {
        eprintln!("skipped: 'docker info' fails (no Docker daemon here)");
        return;
    };
    let mut env = crate::runner_docker::docker_env(&image);
    let Some(sshd) = Sshd::start(&mut env) else {
        return;
    };
    let go = env.path("go");
    let fake = env.fake("far", &format!("wait-for {}\n", go.display()));
    let runner = sshd.runner();
    let mut args = vec!["new", "--runner", runner.as_str(), "--name", "far", "t"];
    args.extend(fake.iter().map(String::as_str));
    env.agent(&args).ok();
    env.wait_state("far", "running");
    let agent_dir = env.repo.join(".git/agent");
    let sockets = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        use std::os::unix::fs::FileTypeExt as _;
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
            .map(|e| e.path())
            .collect()
    };
    let folders = [agent_dir.clone(), agent_dir.join("ssh")];
    let found: Vec<_> = folders.iter().flat_map(|d| sockets(d)).collect();
    assert!(
        !found.is_empty(),
        "no ControlMaster socket under {}",
        agent_dir.display()
    );
    let script: String = folders
        .iter()
        .map(|d| format!("try-connect {}\n", d.display()))
        .collect();
    crate::runner_docker::spawn(&env, "boxed", &script);
    env.wait_state("boxed", "done");
    std::fs::write(&go, "").unwrap();
    let log = std::fs::read_to_string(env.state_dir().join("sessions/boxed/log")).unwrap();
    assert!(!log.contains("connected "), "{log}");
}
