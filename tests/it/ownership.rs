//! What the user owns stays theirs: a commit made while `new --take-changes` runs, the
//! processes they start through `exec`, a follow-up sent while a merge runs; and what is
//! shown about it is true (a session that ended is not "lost"; hand-made work in an ended
//! session's worktree counts in `conflicts`).

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use crate::support::{TestEnv, process_gone};

fn hook(env: &TestEnv, name: &str, body: &str) {
    let path = env.repo.join(".git/hooks").join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn commit_all(env: &TestEnv, message: &str) {
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", message]);
}

fn kill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
fn take_changes_never_erases_a_commit_made_while_new_runs() {
    let env = TestEnv::new();
    env.write("a.txt", "one\n");
    commit_all(&env, "files");
    env.write("a.txt", "my edit, to move\n");
    // The new worktree's checkout waits until the user has committed in this checkout.
    let (started, go) = (env.path("hook-started"), env.path("go"));
    hook(
        &env,
        "post-checkout",
        &format!(
            "touch '{}'\nwhile [ ! -e '{}' ]; do sleep 0.05; done",
            started.display(),
            go.display()
        ),
    );
    let out = std::thread::scope(|scope| {
        let new = scope.spawn(|| {
            let fake = env.fake("m", "print x");
            let mut args = vec!["new", "--name", "m", "--take-changes", "continue"];
            args.extend(fake.iter().map(String::as_str));
            env.agent(&args)
        });
        env.wait_until("the checkout to start", || started.exists());
        env.write("mine.txt", "committed meanwhile\n");
        env.git(&["add", "mine.txt"]);
        env.git(&["commit", "-q", "-m", "mine"]);
        env.touch("go");
        new.join().unwrap()
    });
    let out = out.ok();
    assert!(out.stderr.contains("HEAD moved from"), "{out}");
    assert!(out.stderr.contains("was left as it is"), "{out}");
    // The user's commit is still on their branch, its file in place, the edit still here.
    assert_eq!(env.git(&["log", "-1", "--format=%s"]).trim(), "mine");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("mine.txt")).unwrap(),
        "committed meanwhile\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("a.txt")).unwrap(),
        "my edit, to move\n"
    );
    assert_eq!(env.record("m")["took_changes"]["cleaned"], false);
    env.wait_state("m", "done");
}

#[test]
fn a_session_that_ended_while_others_started_is_not_called_lost() {
    let env = TestEnv::new();
    // The second checkout waits until the first agent has run (its supervisor then records
    // the end as soon as `new` lets go of the worktree lock, and exits).
    let calls = env.path("calls.jsonl");
    hook(
        &env,
        "post-checkout",
        &format!(
            "case \"$PWD\" in *quick-2) until grep -q quick-1 '{}' 2>/dev/null; do sleep 0.05; done; sleep 1;; esac",
            calls.display()
        ),
    );
    let fake = env.fake("quick", "exit 0");
    let mut args = vec!["new", "-n", "2", "--name", "quick", "t"];
    args.extend(fake.iter().map(String::as_str));
    let out = env.agent(&args).ok();
    assert!(out.stdout.contains("Started quick-1"), "{out}");
    assert!(!out.stdout.contains("lost"), "{out}");
    assert!(out.stdout.contains("quick-1 (fake-agent"), "{out}");
    env.wait_state("quick-2", "done");
}

#[test]
fn rm_and_doctor_reap_what_the_agent_left_never_what_exec_started() {
    let env = TestEnv::new();
    let mut mine = Vec::new();
    let mut daemons = Vec::new();
    for name in ["srv1", "srv2"] {
        let daemon_pid = env.path(&format!("{name}-daemon.pid"));
        env.spawn(
            &["--name", name, "t"],
            &format!("spawn-daemon {}", daemon_pid.display()),
        );
        env.wait_state(name, "done");
        daemons.push(env.read_pid(&daemon_pid));
        // The user starts a server of their own there, through exec (it detaches too).
        let my_pid = env.path(&format!("{name}-mine.pid"));
        env.agent(&[
            "exec",
            name,
            "--",
            "setsid",
            "-f",
            "sh",
            "-c",
            "echo $$ > \"$0\"; exec sleep 300 </dev/null >/dev/null 2>&1",
            my_pid.to_str().unwrap(),
        ])
        .ok();
        mine.push(env.read_pid(&my_pid));
    }
    let out = env.agent(&["doctor", "--reap"]);
    env.wait_until("srv1's daemon to go", || process_gone(daemons[0]));
    env.wait_until("srv2's daemon to go", || process_gone(daemons[1]));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!process_gone(mine[0]), "doctor --reap spared exec's: {out}");
    assert!(!process_gone(mine[1]), "doctor --reap spared exec's: {out}");

    // rm: the agent's daemon goes, the user's process stays.
    let daemon_pid = env.path("srv3-daemon.pid");
    env.spawn(
        &["--name", "srv3", "t"],
        &format!("spawn-daemon {}", daemon_pid.display()),
    );
    env.wait_state("srv3", "done");
    let daemon = env.read_pid(&daemon_pid);
    let my_pid = env.path("srv3-mine.pid");
    env.agent(&[
        "exec",
        "srv3",
        "--",
        "setsid",
        "-f",
        "sh",
        "-c",
        "echo $$ > \"$0\"; cd /; exec sleep 300 </dev/null >/dev/null 2>&1",
        my_pid.to_str().unwrap(),
    ])
    .ok();
    let my = env.read_pid(&my_pid);
    let out = env.agent(&["rm", "srv3", "--grace", "2s"]).ok();
    assert!(
        out.stderr
            .contains("stopped 1 process(es) its agent had left running"),
        "{out}"
    );
    env.wait_until("srv3's daemon to go", || process_gone(daemon));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!process_gone(my), "rm spared exec's process: {out}");
    for pid in mine.into_iter().chain([my]) {
        kill(pid);
    }
}

#[test]
fn a_send_during_a_merge_is_refused_naming_it_and_nothing_is_killed() {
    let env = TestEnv::new();
    env.spawn(&["--name", "m", "t"], "write f.txt work\ncommit work");
    env.wait_state("m", "done");
    let (verifying, go) = (env.path("verifying"), env.path("go"));
    env.git(&[
        "config",
        "agent.verify",
        &format!(
            "touch '{}'; while [ ! -e '{}' ]; do sleep 0.05; done",
            verifying.display(),
            go.display()
        ),
    ]);
    let (merge, send) = std::thread::scope(|scope| {
        let merge = scope.spawn(|| env.agent(&["merge", "m", "--verify"]));
        env.wait_until("the verify to run", || verifying.exists());
        let send = scope.spawn(|| env.agent(&["send", "m", "more please"]));
        // The send must not wait for the merge; give a blocked one time to show itself.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !send.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        env.touch("go");
        (merge.join().unwrap(), send.join().unwrap())
    });
    let merge = merge.ok();
    assert_ne!(send.code, 0, "{send}");
    assert!(send.stderr.contains("git agent merge"), "{send}");
    assert!(!merge.stderr.contains("git agent stop"), "{merge}");
    assert!(merge.stdout.contains("Merged m into main"), "{merge}");
    // Only the first run ever started.
    assert_eq!(env.calls().len(), 1, "{:#?}", env.calls());
}

#[test]
fn a_stop_nobody_asked_for_is_not_called_git_agent_stop() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "busy", "t"],
        &format!("wait-for {}", env.path("never").display()),
    );
    env.wait_state("busy", "running");
    env.agent(&["rm", "busy", "--grace", "1s"]).ok();
    let archived: Vec<_> = std::fs::read_dir(env.state_dir().join("archive"))
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("busy.") && name.ends_with(".json")
        })
        .collect();
    assert_eq!(archived.len(), 1);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(archived[0].path()).unwrap()).unwrap();
    let reason = record["reason"].as_str().unwrap_or_default();
    assert!(!reason.contains("git agent stop"), "{record:#}");
    assert!(reason.contains("remove"), "{record:#}");
}

#[test]
fn conflicts_count_work_made_by_hand_in_an_ended_sessions_worktree() {
    let env = TestEnv::new();
    env.write("f.txt", "1\n2\n3\n");
    commit_all(&env, "f");
    env.spawn(&["--name", "ended", "t"], "write other.txt x\ncommit other");
    env.wait_state("ended", "done");
    let out = env.agent(&["conflicts"]).ok();
    assert!(out.stdout.contains("No conflicts."), "{out}");
    // The user fixes something by hand in the worktree, and main moves the same line.
    let wt = env.agents_dir().join("ended");
    std::fs::write(wt.join("f.txt"), "1\nBY HAND\n3\n").unwrap();
    env.write("f.txt", "1\nMAIN\n3\n");
    commit_all(&env, "main moves");
    let out = env.agent(&["conflicts"]).code(1);
    assert!(out.stdout.contains("ended × main: f.txt"), "{out}");
    assert!(
        out.stdout.contains("with their uncommitted changes: ended"),
        "{out}"
    );
    // An untracked file made by hand counts too.
    std::fs::write(wt.join("f.txt"), "1\n2\n3\n").unwrap();
    std::fs::create_dir_all(wt.join("notes")).unwrap();
    std::fs::write(wt.join("notes/n.txt"), "mine\n").unwrap();
    env.write("notes/n.txt", "main's\n");
    commit_all(&env, "main adds notes");
    let out = env.agent(&["conflicts"]).code(1);
    assert!(out.stdout.contains("ended × main: notes/n.txt"), "{out}");
}
