//! The SSH runner against a real sshd on 127.0.0.1 (`support::sshd`): the session runs in a
//! second clone under a second home, and its branch comes back here.

use crate::support::TestEnv;
use crate::support::sshd::Sshd;

/// A test world with sshd, or `None` (the test is skipped, and says why).
fn world() -> Option<(TestEnv, Sshd)> {
    let mut env = TestEnv::new();
    let sshd = Sshd::start(&mut env)?;
    Some((env, sshd))
}

#[test]
fn new_over_ssh_brings_the_branch_back_and_list_shows_the_host() {
    let Some((env, sshd)) = world() else { return };
    let fake = env.fake(
        "remote",
        "write done.txt made remotely\ncommit remote work\nprint bye\n",
    );
    let runner = sshd.runner();
    let mut args = vec![
        "new",
        "--runner",
        runner.as_str(),
        "--name",
        "remote",
        "do it",
    ];
    args.extend(fake.iter().map(String::as_str));
    env.agent(&args).ok();
    let record = env.wait_state("remote", "done");
    assert_eq!(record["runner"]["kind"], "ssh", "{record:#}");
    assert_eq!(record["runner"]["remote_name"], "remote", "{record:#}");
    // The agent ran over there, in the remote clone's worktree.
    let call = env.call_of("remote");
    let cwd = call["cwd"].as_str().unwrap();
    assert!(
        cwd.starts_with(&format!("{}", sshd.remote_repo.display())),
        "{call:#}"
    );
    // Its commit is on the local branch and in the local worktree.
    let log = env.git(&["log", "--format=%s", "agent/remote"]);
    assert_eq!(log.lines().next(), Some("remote work"), "{log}");
    let worktree = record["worktree"].as_str().unwrap();
    let made = std::fs::read_to_string(std::path::Path::new(worktree).join("done.txt")).unwrap();
    assert_eq!(made, "made remotely\n");
    // Its output reached the local log.
    let logs = env.agent(&["logs", "remote"]).ok();
    assert!(logs.stdout.contains("bye"), "{logs}");
    let list = env.agent(&["list"]).ok();
    let line = list
        .stdout
        .lines()
        .find(|l| l.contains("remote"))
        .unwrap_or_default();
    assert!(line.contains("done"), "{list}");
    assert!(line.contains("fake-agent (ssh 127.0.0.1)"), "{list}");
    let show = env.agent(&["show", "remote"]).ok();
    assert!(show.stdout.contains("ssh"), "{show}");
}
