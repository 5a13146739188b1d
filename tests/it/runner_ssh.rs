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
    // What the agent said last is its result here too.
    assert_eq!(
        record["runs"][0]["outcome"]["last_text"], "bye",
        "{record:#}"
    );
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
    // Not the remote sandbox's complaint about packed-refs, here or there.
    let raw = env.agent(&["logs", "--raw", "remote"]).ok();
    assert!(!raw.stdout.contains("packed-refs.lock"), "{raw}");
    let remote_raw = env
        .agent_in(&sshd.remote_repo, &["logs", "--raw", "remote"])
        .ok();
    assert!(
        !remote_raw.stdout.contains("packed-refs.lock"),
        "{remote_raw}"
    );
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

/// `git agent new --runner ssh://… ARGS -- fake-agent --script …` for session `name`.
pub fn start(env: &TestEnv, sshd: &Sshd, name: &str, prompt: &str, script: &str) {
    let fake = env.fake(name, script);
    let runner = sshd.runner();
    let mut args = vec![
        "new",
        "--runner",
        runner.as_str(),
        "--name",
        name,
        "-m",
        prompt,
    ];
    args.extend(fake.iter().map(String::as_str));
    env.agent(&args).ok();
}

/// Waits until the local log has `line` from the remote agent: its output arrives through
/// the client that follows it, so that client is connected (an earlier drop of the
/// connections would miss it: it would connect afresh).
fn wait_followed(env: &TestEnv, name: &str, line: &str) {
    env.wait_until("the remote agent's output to arrive here", || {
        env.agent(&["logs", "--raw", name]).stdout.contains(line)
    });
}

/// The remote session's record, as `git agent show --json` says it over there.
fn remote_record(env: &TestEnv, sshd: &Sshd, name: &str) -> serde_json::Value {
    env.agent_in(&sshd.remote_repo, &["show", "--json", name])
        .ok()
        .json()["session"]
        .clone()
}

#[test]
fn a_prompt_with_shell_code_arrives_verbatim_and_runs_nothing() {
    let Some((env, sshd)) = world() else { return };
    let pwned = env.path("pwned");
    let prompt = format!(
        "fix it; touch {p}; $(touch {p}) `touch {p}` \"it's\" 'quoted' \\ $HOME & | > {p}",
        p = pwned.display()
    );
    start(&env, &sshd, "quoting", &prompt, "print ok\n");
    env.wait_state("quoting", "done");
    let call = env.call_of("quoting");
    assert_eq!(call["env"]["GIT_AGENT_PROMPT"], prompt.as_str(), "{call:#}");
    assert_eq!(
        remote_record(&env, &sshd, "quoting")["prompt"],
        prompt.as_str()
    );
    assert!(!pwned.exists(), "the prompt ran as shell code over there");
}

#[test]
fn stop_stops_the_remote_session() {
    let Some((env, sshd)) = world() else { return };
    let go = env.path("go");
    start(
        &env,
        &sshd,
        "halt",
        "wait",
        &format!("print waiting\nwait-for {}\n", go.display()),
    );
    env.call_of("halt");
    env.wait_state("halt", "running");
    env.agent(&["stop", "halt"]).ok();
    let record = env.wait_state("halt", "stopped");
    assert_eq!(record["runner"]["remote_name"], "halt");
    let remote = remote_record(&env, &sshd, "halt");
    assert_eq!(remote["state"], "stopped", "{remote:#}");
}

#[test]
fn send_reaches_the_remote_agent_and_its_commits_come_back() {
    let Some((env, sshd)) = world() else { return };
    let script = "append notes.txt another run\ncommit a run\n";
    start(&env, &sshd, "again", "first task", script);
    env.wait_state("again", "done");
    env.agent(&["send", "again", "now the second thing"]).ok();
    env.wait_until("the second run to end", || {
        let r = env.record("again");
        r["runs"].as_array().map_or(0, Vec::len) == 2 && r["state"] == "done"
    });
    let remote = remote_record(&env, &sshd, "again");
    let runs = remote["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{remote:#}");
    assert!(
        runs[1]["prompt"]
            .as_str()
            .unwrap()
            .contains("now the second thing"),
        "{remote:#}"
    );
    let log = env.git(&["log", "--format=%s", "main..agent/again"]);
    assert_eq!(log.lines().count(), 2, "{log}");
}

#[test]
fn a_lost_connection_fails_the_run_and_resume_reconnects() {
    let Some((env, sshd)) = world() else { return };
    let go = env.path("go");
    let script = format!(
        "print waiting\nwait-for {}\nappend out.txt late\ncommit late work\n",
        go.display()
    );
    start(&env, &sshd, "drop", "wait then commit", &script);
    env.call_of("drop");
    let running = env.wait_state("drop", "running");
    let client = running["processes"]["agent"]["pid"].as_i64().unwrap();
    // The local ssh client dies, as when the network goes.
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(i32::try_from(client).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let failed = env.wait_state("drop", "failed");
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("lost the connection to 127.0.0.1"),
        "{failed:#}"
    );
    assert!(reason.contains("git agent resume drop"), "{failed:#}");
    // Over there the agent goes on.
    assert_eq!(remote_record(&env, &sshd, "drop")["state"], "running");
    env.agent(&["resume", "drop"]).ok();
    env.wait_state("drop", "running");
    std::fs::write(&go, "").unwrap();
    env.wait_state("drop", "done");
    // Reconnected, not restarted: one run over there, its commit here.
    let remote = remote_record(&env, &sshd, "drop");
    assert_eq!(remote["runs"].as_array().unwrap().len(), 1, "{remote:#}");
    let log = env.git(&["log", "--format=%s", "-1", "agent/drop"]);
    assert_eq!(log.trim(), "late work");
}

#[test]
fn connections_dropped_by_the_server_are_lost_too_and_resume_brings_the_work() {
    let Some((env, sshd)) = world() else { return };
    let go = env.path("go");
    let script = format!(
        "print waiting\nwait-for {}\nappend out.txt x\ncommit cut off\n",
        go.display()
    );
    start(&env, &sshd, "cut", "wait", &script);
    env.call_of("cut");
    env.wait_state("cut", "running");
    wait_followed(&env, "cut", "waiting");
    sshd.drop_connections();
    let failed = env.wait_state("cut", "failed");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("lost the connection"),
        "{failed:#}"
    );
    // Meanwhile the agent finishes over there; resume fetches what it made.
    std::fs::write(&go, "").unwrap();
    env.wait_until("the remote session to end", || {
        remote_record(&env, &sshd, "cut")["state"] == "done"
    });
    env.agent(&["resume", "cut"]).ok();
    env.wait_until("the resumed run to end", || {
        let r = env.record("cut");
        r["runs"].as_array().map_or(0, Vec::len) == 2 && r["state"] != "running"
    });
    let log = env.git(&["log", "--format=%s", "main..agent/cut"]);
    assert!(log.lines().any(|l| l == "cut off"), "{log}");
}

#[test]
fn a_missing_remote_repository_is_made_bare_and_a_folder_that_is_none_is_named() {
    let Some((env, sshd)) = world() else { return };
    // Nothing at the path: the runner makes a bare repository there and works in it.
    let bare = env.root().join("remote-bare/proj");
    let runner = format!("ssh://127.0.0.1:{}{}", sshd.port, bare.display());
    let fake = env.fake("fresh", "write made.txt there\ncommit made in a bare one\n");
    let mut args = vec![
        "new",
        "--runner",
        runner.as_str(),
        "--name",
        "fresh",
        "task",
    ];
    args.extend(fake.iter().map(String::as_str));
    env.agent(&args).ok();
    env.wait_state("fresh", "done");
    let tip = env.git(&["log", "-1", "--format=%s", "agent/fresh"]);
    assert_eq!(tip.trim(), "made in a bare one");
    let is_bare = env.git(&[
        "-C",
        bare.to_str().unwrap(),
        "rev-parse",
        "--is-bare-repository",
    ]);
    assert_eq!(is_bare.trim(), "true");
    assert!(env.root().join("remote-bare/proj.agents").is_dir());

    // A folder that is there but no repository is never turned into one.
    let folder = env.root().join("not-a-repo");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("keep.txt"), "mine\n").unwrap();
    let runner = format!("ssh://127.0.0.1:{}{}", sshd.port, folder.display());
    let fake = env.fake("none", "print hi\n");
    let mut args = vec!["new", "--runner", runner.as_str(), "--name", "none", "task"];
    args.extend(fake.iter().map(String::as_str));
    let out = env.agent(&args);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains("needs a clone of the repository at"),
        "{out}"
    );
    assert_eq!(env.stored_state("none"), "failed");
    assert!(!folder.join(".git").exists() && !folder.join("HEAD").exists());
    // Never started over there: rm has nothing to remove there, and says nothing of it.
    let rm = env.agent(&["rm", "none"]).ok();
    assert!(!rm.stderr.contains("warning"), "{rm}");
    assert!(!env.has_record("none"));
}

#[test]
fn a_runner_without_a_path_is_a_usage_error() {
    let env = TestEnv::new();
    let fake = env.fake("box", "print hi\n");
    let mut args = vec!["new", "--runner", "ssh://box", "task"];
    args.extend(fake.iter().map(String::as_str));
    let out = env.agent(&args).code(2);
    assert!(out.stderr.contains("bad SSH runner 'ssh://box'"), "{out}");
    assert!(
        out.stderr.contains("ssh://[user@]host[:port]/path"),
        "{out}"
    );
}

#[test]
fn stop_after_the_local_supervisor_died_stops_the_remote_session_too() {
    let Some((env, sshd)) = world() else { return };
    let go = env.path("go");
    start(
        &env,
        &sshd,
        "orphan",
        "wait",
        &format!("wait-for {}\n", go.display()),
    );
    env.call_of("orphan");
    let running = env.wait_state("orphan", "running");
    let client = running["processes"]["agent"]["pid"].as_i64().unwrap();
    env.kill_supervisor("orphan");
    env.agent(&["stop", "orphan"]).ok();
    let remote = remote_record(&env, &sshd, "orphan");
    assert_eq!(remote["state"], "stopped", "{remote:#}");
    assert!(
        crate::support::process_gone(i32::try_from(client).unwrap()),
        "the local ssh client is left"
    );
}

#[test]
fn commits_made_here_between_runs_reach_the_remote_agent() {
    let Some((env, sshd)) = world() else { return };
    let script = "append notes.txt a run\ncommit a run\n";
    start(&env, &sshd, "both", "task", script);
    let record = env.wait_state("both", "done");
    let worktree = std::path::PathBuf::from(record["worktree"].as_str().unwrap());
    std::fs::write(worktree.join("mine.txt"), "from here\n").unwrap();
    env.git_in(&worktree, &["add", "mine.txt"]);
    env.git_in(&worktree, &["commit", "-q", "-m", "mine"]);
    env.agent(&["send", "both", "carry on"]).ok();
    env.wait_until("the second run to end", || {
        let r = env.record("both");
        r["runs"].as_array().map_or(0, Vec::len) == 2 && r["state"] == "done"
    });
    let log = env.git(&["log", "--format=%s", "main..agent/both"]);
    assert_eq!(log, "a run\nmine\na run\n");
    // Over there, the agent's second run had the commit made here in its worktree.
    let remote_tree = remote_record(&env, &sshd, "both")["worktree"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(std::path::Path::new(&remote_tree).join("mine.txt").exists());
}

#[test]
fn doctor_finds_a_lost_connection_and_fix_reconnects_without_starting_the_agent_again() {
    let Some((env, sshd)) = world() else { return };
    let go = env.path("go");
    let script = format!(
        "print waiting\nwait-for {}\nprint said while nobody followed\nappend out.txt x\n\
         commit made while cut off\nprint bye\n",
        go.display()
    );
    start(&env, &sshd, "doc", "wait", &script);
    env.call_of("doc");
    env.wait_state("doc", "running");
    wait_followed(&env, "doc", "waiting");
    sshd.drop_connections();
    env.wait_state("doc", "failed");
    // The agent finishes over there while nobody follows it.
    std::fs::write(&go, "").unwrap();
    env.wait_until("the remote session to end", || {
        remote_record(&env, &sshd, "doc")["state"] == "done"
    });
    let before = env.record("doc");
    let tip = env.git(&["rev-parse", "agent/doc"]);
    // Doctor says what it found, and changes nothing without --fix.
    let doc = env.agent(&["doctor", "--json"]).code(1).json();
    let finding = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "ssh-lost")
        .cloned()
        .unwrap_or_else(|| panic!("no ssh-lost finding: {doc:#}"));
    assert_eq!(finding["session"], "doc", "{doc:#}");
    assert_eq!(finding["fixed"], false, "{doc:#}");
    assert!(
        finding["what"].as_str().unwrap().contains("127.0.0.1"),
        "{doc:#}"
    );
    let text = env.agent(&["doctor"]).code(1);
    assert!(
        text.stdout
            .contains("✗ doc: the connection to 127.0.0.1 was lost"),
        "{text}"
    );
    assert!(text.stdout.contains("--fix: reconnect"), "{text}");
    assert_eq!(env.record("doc"), before);
    assert_eq!(env.git(&["rev-parse", "agent/doc"]), tip);
    // --fix reconnects: the run follows the remote session to its end and brings its work.
    let fixed = env.agent(&["doctor", "--fix", "--json"]).json();
    let finding = fixed["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "ssh-lost")
        .cloned()
        .unwrap_or_else(|| panic!("no ssh-lost finding: {fixed:#}"));
    assert_eq!(finding["fixed"], true, "{fixed:#}");
    env.wait_until("the reconnected run to end", || {
        let r = env.record("doc");
        r["runs"].as_array().map_or(0, Vec::len) == 2 && r["state"] == "done"
    });
    let log = env.git(&["log", "--format=%s", "-1", "agent/doc"]);
    assert_eq!(log.trim(), "made while cut off");
    // Not started again over there: one run.
    let remote = remote_record(&env, &sshd, "doc");
    assert_eq!(remote["runs"].as_array().unwrap().len(), 1, "{remote:#}");
    // What it said while nobody followed reached the log here, and its last words are the
    // run's result.
    let record = env.record("doc");
    assert_eq!(
        record["runs"][1]["outcome"]["last_text"], "bye",
        "{record:#}"
    );
    assert!(record["runner"]["disconnected"].is_null(), "{record:#}");
    let logs = env.agent(&["logs", "--raw", "doc"]).ok();
    assert!(logs.stdout.contains("said while nobody followed"), "{logs}");
    // Nothing left for the doctor.
    let after = env.agent(&["doctor", "--json"]).json();
    assert!(
        !after["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "ssh-lost"),
        "{after:#}"
    );
}

/// Whether the remote clone still has session `name` (its record, as `git agent` there says).
fn remote_has(env: &TestEnv, sshd: &Sshd, name: &str) -> bool {
    env.agent_in(&sshd.remote_repo, &["show", "--json", name])
        .code
        == 0
}

#[test]
fn rm_removes_the_remote_session_once_its_work_is_here() {
    let Some((env, sshd)) = world() else { return };
    start(
        &env,
        &sshd,
        "gone",
        "task",
        "append a.txt x\ncommit remote work\n",
    );
    env.wait_state("gone", "done");
    let remote_tree = remote_record(&env, &sshd, "gone")["worktree"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(std::path::Path::new(&remote_tree).is_dir());
    // Its work landed here.
    env.git(&["merge", "-q", "agent/gone"]);
    let out = env.agent(&["rm", "gone"]).ok();
    assert!(!out.stderr.contains("warning:"), "{out}");
    assert!(
        !remote_has(&env, &sshd, "gone"),
        "the remote session is left"
    );
    assert!(!std::path::Path::new(&remote_tree).exists());
    let worktrees = env.git_in(&sshd.remote_repo, &["worktree", "list"]);
    assert_eq!(worktrees.lines().count(), 1, "{worktrees}");
    // The ref pushed over there for it goes too; its branch stays (no --delete-branch).
    let refs = env.git_in(&sshd.remote_repo, &["for-each-ref", "--format=%(refname)"]);
    assert!(!refs.contains("refs/agent-base/gone"), "{refs}");
    assert!(refs.contains("refs/heads/agent/gone"), "{refs}");
}

#[test]
fn rm_refuses_while_the_remote_branch_has_commits_not_here_and_force_drops_them() {
    let Some((env, sshd)) = world() else { return };
    start(
        &env,
        &sshd,
        "more",
        "task",
        "append a.txt x\ncommit remote work\n",
    );
    env.wait_state("more", "done");
    env.git(&["merge", "-q", "agent/more"]);
    // Someone commits over there by hand after the run.
    let remote_tree = std::path::PathBuf::from(
        remote_record(&env, &sshd, "more")["worktree"]
            .as_str()
            .unwrap(),
    );
    std::fs::write(remote_tree.join("late.txt"), "late\n").unwrap();
    env.git_in(&remote_tree, &["add", "late.txt"]);
    env.git_in(&remote_tree, &["commit", "-q", "-m", "by hand over there"]);
    let out = env.agent(&["rm", "more"]).code(1);
    assert!(
        out.stderr
            .contains("error: 'more': its session 'more' on 127.0.0.1 holds work that is not here"),
        "{out}"
    );
    assert!(out.stderr.contains("not on agent/more here"), "{out}");
    assert!(out.stderr.contains("hint: bring its commits here"), "{out}");
    assert!(out.stderr.contains("git agent rm --force more"), "{out}");
    // Nothing was removed, here or there.
    assert_eq!(env.stored_state("more"), "done");
    assert!(remote_has(&env, &sshd, "more"));
    assert!(remote_tree.is_dir());
    // The hint's command brings it here; then rm goes through.
    let hint = out
        .stderr
        .lines()
        .find_map(|l| {
            l.split_once("commits here: ")
                .map(|(_, cmd)| cmd.to_owned())
        })
        .unwrap();
    let words = shell_words::split(&hint).unwrap();
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    env.git(&args);
    let log = env.git(&["log", "--format=%s", "-1", "agent/more"]);
    assert_eq!(log.trim(), "by hand over there");
    // A commit more over there, and --force drops it.
    std::fs::write(remote_tree.join("later.txt"), "later\n").unwrap();
    env.git_in(&remote_tree, &["add", "later.txt"]);
    env.git_in(&remote_tree, &["commit", "-q", "-m", "later"]);
    env.agent(&["rm", "--force", "more"]).ok();
    assert!(!env.has_record("more"));
    assert!(!remote_has(&env, &sshd, "more"));
}

#[test]
fn rm_with_the_host_unreachable_removes_the_session_here_and_says_what_is_left_there() {
    let Some((env, mut sshd)) = world() else {
        return;
    };
    start(&env, &sshd, "far", "task", "print hi\n");
    env.wait_state("far", "done");
    sshd.stop();
    let began = std::time::Instant::now();
    let out = env.agent(&["rm", "far"]).ok();
    assert!(began.elapsed() < std::time::Duration::from_secs(20));
    assert!(
        out.stderr
            .contains("warning: could not reach 127.0.0.1: its session 'far' is left on 127.0.0.1"),
        "{out}"
    );
    assert!(out.stderr.contains("git agent rm far"), "{out}");
    assert!(!env.has_record("far"));
    assert!(
        remote_has(&env, &sshd, "far"),
        "nothing over there is touched"
    );
}

#[test]
fn rm_while_followed_while_cut_off_and_when_the_remote_session_is_gone() {
    let Some((env, sshd)) = world() else { return };
    let go = env.path("go");
    let waits = format!("print waiting\nwait-for {}\n", go.display());
    // Followed: rm stops it (over there too), then removes both.
    start(&env, &sshd, "busy", "wait", &waits);
    env.call_of("busy");
    wait_followed(&env, "busy", "waiting");
    let out = env.agent(&["rm", "busy"]).ok();
    assert!(!out.stderr.contains("warning:"), "{out}");
    assert!(!remote_has(&env, &sshd, "busy"));
    // Cut off while its agent still runs over there: refused (what it makes would be lost)…
    start(&env, &sshd, "cut", "wait", &waits);
    env.call_of("cut");
    wait_followed(&env, "cut", "waiting");
    sshd.drop_connections();
    env.wait_state("cut", "failed");
    let out = env.agent(&["rm", "cut"]).code(1);
    assert!(
        out.stderr
            .contains("'cut': its agent still runs on 127.0.0.1 (session 'cut' there)"),
        "{out}"
    );
    assert!(out.stderr.contains("hint: follow it to its end"), "{out}");
    assert!(env.has_record("cut"));
    assert_eq!(remote_record(&env, &sshd, "cut")["state"], "running");
    // …and --force stops and removes it over there.
    env.agent(&["rm", "--force", "cut"]).ok();
    assert!(!env.has_record("cut"));
    assert!(!remote_has(&env, &sshd, "cut"));
    // Removed over there already: nothing to say.
    start(&env, &sshd, "twice", "task", "print hi\n");
    env.wait_state("twice", "done");
    env.agent_in(&sshd.remote_repo, &["rm", "twice"]).ok();
    let out = env.agent(&["rm", "twice"]).ok();
    assert!(!out.stderr.contains("warning:"), "{out}");
    assert!(!env.has_record("twice"));
}

#[test]
fn a_name_taken_over_there_fails_the_run_and_rm_leaves_that_session_alone() {
    let Some((env, sshd)) = world() else { return };
    // Someone's own session over there, by the same name.
    let theirs = env.fake("taken", "print theirs\n");
    let mut args = vec!["new", "--name", "taken", "-m", "theirs"];
    args.extend(theirs.iter().map(String::as_str));
    env.agent_in(&sshd.remote_repo, &args).ok();
    let fake = env.fake("taken", "print mine\n");
    let runner = sshd.runner();
    let mut args = vec![
        "new",
        "--runner",
        runner.as_str(),
        "--name",
        "taken",
        "mine",
    ];
    args.extend(fake.iter().map(String::as_str));
    let out = env.agent(&args);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("agent/taken"), "{out}");
    let record = env.record("taken");
    assert!(record["runner"]["remote_name"].is_null(), "{record:#}");
    let out = env.agent(&["rm", "taken"]).ok();
    assert!(!out.stderr.contains("warning:"), "{out}");
    assert_eq!(remote_record(&env, &sshd, "taken")["prompt"], "theirs");
}

#[test]
fn a_lost_supervisor_is_reconnected_by_doctor_fix_and_resume_without_stopping_the_remote_agent() {
    let Some((env, sshd)) = world() else { return };
    let go = env.path("go");
    let script = format!(
        "print waiting\nwait-for {}\nprint after the crash\nappend out.txt x\ncommit late work\n\
         print bye\n",
        go.display()
    );
    start(&env, &sshd, "crash", "wait", &script);
    env.call_of("crash");
    wait_followed(&env, "crash", "waiting");
    env.kill_supervisor("crash");
    let text = env.agent(&["doctor"]).code(1);
    assert!(
        text.stdout
            .contains("--fix: record the end here and reconnect to its session on 127.0.0.1"),
        "{text}"
    );
    env.agent(&["doctor", "--fix"]).ok();
    env.wait_until("the reconnected run to start", || {
        let r = env.record("crash");
        r["runs"].as_array().map_or(0, Vec::len) == 2 && r["state"] == "running"
    });
    // Its agent over there was never stopped.
    assert_eq!(remote_record(&env, &sshd, "crash")["state"], "running");
    // Again, with resume this time.
    wait_followed(&env, "crash", "waiting");
    env.kill_supervisor("crash");
    let out = env.agent(&["resume", "crash"]).ok();
    assert!(out.stderr.contains("reconnecting"), "{out}");
    std::fs::write(&go, "").unwrap();
    env.wait_until("the reconnected run to end", || {
        let r = env.record("crash");
        r["runs"].as_array().map_or(0, Vec::len) == 3 && r["state"] == "done"
    });
    let remote = remote_record(&env, &sshd, "crash");
    assert_eq!(remote["runs"].as_array().unwrap().len(), 1, "{remote:#}");
    assert_eq!(remote["state"], "done", "{remote:#}");
    let log = env.git(&["log", "--format=%s", "-1", "agent/crash"]);
    assert_eq!(log.trim(), "late work");
    let record = env.record("crash");
    assert_eq!(
        record["runs"][2]["outcome"]["last_text"], "bye",
        "{record:#}"
    );
}

#[test]
fn a_lost_connection_to_a_session_removed_over_there_is_said_once() {
    let Some((env, sshd)) = world() else { return };
    let go = env.path("go");
    start(
        &env,
        &sshd,
        "vanished",
        "wait",
        &format!("print waiting\nwait-for {}\n", go.display()),
    );
    env.call_of("vanished");
    wait_followed(&env, "vanished", "waiting");
    sshd.drop_connections();
    env.wait_state("vanished", "failed");
    env.agent_in(&sshd.remote_repo, &["rm", "--force", "vanished"])
        .ok();
    let fix = env.agent(&["doctor", "--fix"]).code(1);
    assert!(
        fix.stdout.contains(
            "could not fix it: session 'vanished': could not start the agent: its session \
             'vanished' on 127.0.0.1 is gone (removed there)"
        ),
        "{fix}"
    );
    assert_eq!(env.stored_state("vanished"), "failed");
    // Nothing left to reconnect to: the doctor does not offer it again.
    let doc = env.agent(&["doctor", "--json"]).json();
    assert!(
        !doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "ssh-lost"),
        "{doc:#}"
    );
}

#[test]
fn variants_over_ssh_run_side_by_side_and_each_comes_back_to_its_own_branch() {
    let Some((env, sshd)) = world() else { return };
    let runner = sshd.runner();
    let script = "echo \"$GIT_AGENT_VARIANT\" > variant.txt && git add variant.txt && git commit -qm 'a variant'";
    env.agent(&[
        "new", "-n", "2", "--runner", &runner, "--name", "var", "task", "--", "sh", "-c", script,
    ])
    .ok();
    env.agent(&["wait", "--all", "--timeout", "60s"]).ok();
    for (name, n) in [("var-1", "1"), ("var-2", "2")] {
        assert_eq!(env.stored_state(name), "done", "{name}");
        let tip = env.git(&["log", "-1", "--format=%s", &format!("agent/{name}")]);
        assert_eq!(tip.trim(), "a variant", "{name}");
        // Each remote session is its own over there, and knows which variant it is.
        let remote = remote_record(&env, &sshd, name);
        assert_eq!(remote["state"], "done", "{remote:#}");
        let made = env.git(&["show", &format!("agent/{name}:variant.txt")]);
        assert_eq!(made.trim(), n, "{name}");
    }
}
