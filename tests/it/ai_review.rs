//! `git agent review NAME --ai`: another agent, in its read-only mode and in a throw-away
//! checkout of the result, reviews a session's work; its findings become comments of the
//! open review round (quoting their hunks), sent back with `--send`. The agent's worktree is
//! never touched, every review run is recorded and its cost counts.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::TestEnv;

/// Session `s`: claude (the fake) wrote and committed `src/a.txt`; then the worktree got an
/// unstaged edit and a new file. codex (the fake) is installed to review it.
fn reviewed() -> (TestEnv, PathBuf) {
    let mut env = TestEnv::new();
    env.install_fake("claude");
    env.install_fake("codex");
    let script = env.script(
        "agent",
        "write src/a.txt one\\ntwo\\nthree\nsay I wrote src/a.txt as asked",
    );
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&["new", "--agent", "claude", "--name", "s", "write src/a.txt"])
        .ok();
    env.wait_state("s", "done");
    let wt = env.agents_dir().join("s");
    std::fs::write(wt.join("src/a.txt"), "one\ntwo\nthree\nfour\n").unwrap();
    std::fs::write(wt.join("notes.txt"), "untracked\n").unwrap();
    (env, wt)
}

/// The next agent to run (reviewer or implementer) follows `script`.
fn next_script(env: &TestEnv, script: &str) {
    env.script("agent", script);
}

fn argv(call: &Value) -> Vec<String> {
    call["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// The calls of the fake installed as `cli` that no session made (the asked reviewers).
fn asked(env: &TestEnv, cli: &str) -> Vec<Value> {
    env.calls()
        .into_iter()
        .filter(|c| c["env"]["GIT_AGENT_NAME"].is_null())
        .filter(|c| argv(c)[0].ends_with(cli))
        .collect()
}

fn round_file(env: &TestEnv, n: u32) -> PathBuf {
    env.state_dir()
        .join(format!("sessions/s/reviews/{n:03}.md"))
}

fn worktrees(env: &TestEnv) -> usize {
    env.git(&["worktree", "list", "--porcelain"])
        .lines()
        .filter(|l| l.starts_with("worktree "))
        .count()
}

#[test]
fn findings_go_into_the_open_round_quoting_their_hunks_and_nothing_of_the_agent_changes() {
    let (env, wt) = reviewed();
    // Status first: it may refresh the index itself.
    let status_before = env.git_in(&wt, &["status", "--porcelain"]);
    assert_eq!(status_before, " M src/a.txt\n?? notes.txt\n");
    let index = env.repo.join(".git/worktrees/s/index");
    let index_before = std::fs::read(&index).unwrap();
    let refs_before = env.git(&["for-each-ref"]);
    next_script(
        &env,
        "tool shell cat src/a.txt\nsay src/a.txt:2: use a constant\\n\\nAlso add a test.",
    );

    // No --agent: claude wrote it, so the first other installed agent reviews it.
    let out = env.agent(&["review", "s", "--ai"]).ok();
    assert!(
        out.stderr
            .contains("Asking codex (read-only) to review the whole branch of s;"),
        "{out}"
    );
    assert!(out.stderr.contains("  Shell cat src/a.txt"), "{out}");
    assert!(
        out.stdout.contains(
            "codex reviewed s:\n  src/a.txt:2: use a constant\n  General: Also add a test.\n"
        ),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("Review round 1 of s: 2 comment(s) (2 new), in "),
        "{out}"
    );

    let round = std::fs::read_to_string(round_file(&env, 1)).unwrap();
    assert!(
        round.contains(
            "## src/a.txt:2\n\n```diff\n@@ -0,0 +1,4 @@\n+one\n+two\n+three\n+four\n```\n\n\
             _From the reviewer (codex, read-only)._\n\nuse a constant\n"
        ),
        "{round}"
    );
    assert!(
        round.contains(
            "## General\n\n_From the reviewer (codex, read-only)._\n\nAlso add a test.\n"
        ),
        "{round}"
    );

    // The reviewer ran in its read-only mode, in a checkout that is gone now, and was told
    // the task, the agent's report, the whole diff (the uncommitted part too) and the format.
    let calls = asked(&env, "codex");
    assert_eq!(calls.len(), 1);
    let call_argv = argv(&calls[0]);
    assert!(
        call_argv
            .windows(2)
            .any(|w| w[0] == "--sandbox" && w[1] == "read-only"),
        "{call_argv:?}"
    );
    let cwd = PathBuf::from(calls[0]["cwd"].as_str().unwrap());
    assert!(
        !cwd.starts_with(&wt) && !cwd.starts_with(&env.repo),
        "{cwd:?}"
    );
    assert!(!cwd.exists(), "the reviewer's checkout is removed");
    let prompt = calls[0]["env"]["GIT_AGENT_PROMPT"].as_str().unwrap();
    for expected in [
        "write src/a.txt",
        // Its final answer (the fake claude's result is always "Done.").
        "What it reported when it finished:\n\nDone.",
        "+four",
        "+untracked",
        "PATH:LINE: TEXT",
    ] {
        assert!(prompt.contains(expected), "missing {expected:?}:\n{prompt}");
    }

    // Nothing of the agent's moved: its index byte for byte, its status, no worktree entry
    // and no ref left behind.
    assert_eq!(std::fs::read(&index).unwrap(), index_before);
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), status_before);
    assert_eq!(worktrees(&env), 2, "{}", env.git(&["worktree", "list"]));
    assert_eq!(env.git(&["for-each-ref"]), refs_before);

    // The run is recorded apart from the agent's, and shown.
    let r = env.record("s");
    assert_eq!(r["runs"].as_array().unwrap().len(), 1, "{r:#}");
    let run = &r["review_runs"][0];
    assert_eq!(run["kind"], "review", "{r:#}");
    assert_eq!(run["reviewer"], "codex");
    assert_eq!(run["mode"], "read-only");
    assert_eq!(run["ok"], true);
    assert_eq!(run["findings"], 2);
    assert_eq!(run["round"], 1);
    let show = env.agent(&["show", "s"]).ok();
    assert!(show.stdout.contains("codex (read-only)"), "{show}");

    // --json: the findings as a document; they join the same open round.
    let json = env.agent(&["review", "s", "--ai", "--json"]).ok().json();
    assert_eq!(json["reviewer"], "codex", "{json:#}");
    assert_eq!(json["round"], 1);
    assert_eq!(json["findings"][0]["path"], "src/a.txt");
    assert_eq!(json["findings"][0]["line"], 2);
    assert_eq!(json["findings"][0]["text"], "use a constant");
    assert_eq!(json["findings"][1]["path"], Value::Null);
    assert_eq!(json["findings"][1]["text"], "Also add a test.");
    let list = env.agent(&["review", "s", "--list-rounds"]).ok();
    assert!(list.stdout.contains("1      open    4"), "{list}");
}

#[test]
fn send_delivers_the_findings_to_the_implementing_agent() {
    let (env, _wt) = reviewed();
    next_script(&env, "say `src/a.txt`:2:1: use a constant");
    let out = env
        .agent(&["review", "s", "--ai", "--agent", "codex", "--send"])
        .ok();
    assert!(out.stdout.contains("Sent to s (run 2"), "{out}");
    env.wait_state("s", "done");
    let calls: Vec<Value> = env.calls_of("s");
    let prompt = calls[1]["env"]["GIT_AGENT_PROMPT"].as_str().unwrap();
    assert!(
        prompt.starts_with("Review comments on your changes (review round 1)")
            && prompt.contains("## src/a.txt:2")
            && prompt.contains("_From the reviewer (codex, read-only)._\n\nuse a constant"),
        "{prompt}"
    );
    let round = std::fs::read_to_string(round_file(&env, 1)).unwrap();
    assert!(round.contains("status: sent"), "{round}");
}

#[test]
fn a_failing_reviewer_leaves_the_round_as_it_was_and_is_recorded() {
    let (env, _wt) = reviewed();
    env.agent(&["review", "s", "--comment", "src/a.txt:1", "mine"])
        .ok();
    let before = std::fs::read(round_file(&env, 1)).unwrap();
    next_script(
        &env,
        "say src/a.txt:2: half an answer\nfail model overloaded",
    );
    let out = env.agent(&["review", "s", "--ai"]).code(128);
    assert!(
        out.stderr.contains("fatal: the reviewer codex failed:")
            && out.stderr.contains("model overloaded")
            && out.stderr.contains("nothing was added to the review round"),
        "{out}"
    );
    assert_eq!(std::fs::read(round_file(&env, 1)).unwrap(), before);
    assert_eq!(worktrees(&env), 2);
    let run = &env.record("s")["review_runs"][0];
    assert_eq!(run["ok"], false, "{run:#}");
    assert!(
        run["reason"].as_str().unwrap().contains("model overloaded"),
        "{run:#}"
    );
}

#[test]
fn an_answer_with_nothing_to_add() {
    let (env, _wt) = reviewed();
    // Only tool calls, no answer: an error, nothing stored, the run recorded as failed.
    next_script(&env, "tool shell ls");
    let out = env.agent(&["review", "s", "--ai"]).code(128);
    assert!(
        out.stderr
            .contains("fatal: the reviewer codex gave no findings"),
        "{out}"
    );
    assert!(!round_file(&env, 1).exists());
    let run = &env.record("s")["review_runs"][0];
    assert_eq!(run["ok"], false, "{run:#}");
    assert_eq!(run["reason"], "its answer held no findings");

    // "No findings.": a success with nothing to add; --send then sends nothing.
    next_script(&env, "say No findings.");
    let out = env.agent(&["review", "s", "--ai", "--send"]).ok();
    assert!(
        out.stdout.contains("codex found nothing to change in s."),
        "{out}"
    );
    assert!(out.stderr.contains("Nothing new to send."), "{out}");
    assert!(!round_file(&env, 1).exists());
    let r = env.record("s");
    assert_eq!(r["review_runs"][1]["ok"], true, "{r:#}");
    assert_eq!(r["review_runs"][1]["findings"], 0);
    assert_eq!(r["runs"].as_array().unwrap().len(), 1);
}

#[test]
fn refusals_before_any_reviewer_runs() {
    let (env, wt) = reviewed();
    let out = env
        .agent(&["review", "s", "--ai", "--agent", "nosuch"])
        .code(128);
    assert!(
        out.stderr.contains("fatal: unknown agent profile 'nosuch'"),
        "{out}"
    );
    // Known but not installed.
    let out = env
        .agent(&["review", "s", "--ai", "--agent", "gemini"])
        .code(128);
    assert!(
        out.stderr
            .contains("fatal: agent program 'gemini' not found")
            && out.stderr.contains("hint: install gemini"),
        "{out}"
    );
    // agent.reviewer when --agent is not given.
    env.git(&["config", "agent.reviewer", "other"]);
    let out = env.agent(&["review", "s", "--ai"]).code(128);
    assert!(
        out.stderr.contains("fatal: unknown agent profile 'other'"),
        "{out}"
    );
    env.git(&["config", "--unset", "agent.reviewer"]);
    env.git(&["config", "agent.profile.mine.command", "fake-agent"]);
    let out = env
        .agent(&["review", "s", "--ai", "--agent", "mine"])
        .code(128);
    assert!(
        out.stderr
            .contains("profile 'mine' has no read-only permission mode"),
        "{out}"
    );
    env.agent(&["review", "s", "--agent", "codex"]).code(2);
    env.agent(&["review", "s", "--uncommitted"]).code(2);

    // --uncommitted with none, and a session with no changes at all.
    env.git_in(&wt, &["add", "-A"]);
    env.git_in(&wt, &["commit", "-qm", "the rest"]);
    let out = env
        .agent(&["review", "s", "--ai", "--uncommitted"])
        .code(128);
    assert!(
        out.stderr
            .contains("fatal: s has no uncommitted changes to review"),
        "{out}"
    );
    next_script(&env, "say nothing to do");
    env.agent(&["new", "--agent", "claude", "--name", "idle", "look"])
        .ok();
    env.wait_state("idle", "done");
    let out = env.agent(&["review", "idle", "--ai"]).code(128);
    assert!(
        out.stderr.contains("fatal: idle has no changes to review"),
        "{out}"
    );
    assert!(asked(&env, "codex").is_empty(), "no reviewer ran");
    assert!(
        env.record("s")["review_runs"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
}

#[test]
fn only_the_uncommitted_part_and_a_reviewer_that_costs_counts_in_the_budget() {
    let mut env = TestEnv::new();
    env.install_fake("claude");
    let script = env.script("agent", "write src/a.txt one\\ntwo\\nthree\ncost 0.01");
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&[
        "new", "--agent", "claude", "--name", "s", "--budget", "0.05", "t",
    ])
    .ok();
    env.wait_state("s", "done");
    let wt = env.agents_dir().join("s");
    std::fs::write(wt.join("b.txt"), "new\n").unwrap();
    // claude reviews claude's work (the only one installed), in its plan mode.
    next_script(&env, "cost 0.10\nsay b.txt:1: name it better");
    let out = env
        .agent(&["review", "s", "--ai", "--uncommitted", "--send"])
        .code(128);
    assert!(
        out.stderr
            .contains("Asking claude (plan) to review the uncommitted changes of s;"),
        "{out}"
    );
    assert!(out.stderr.contains("has spent its budget"), "{out}");
    let calls = asked(&env, "claude");
    let call_argv = argv(&calls[0]);
    assert!(
        call_argv
            .windows(2)
            .any(|w| w[0] == "--permission-mode" && w[1] == "plan"),
        "{call_argv:?}"
    );
    let prompt = calls[0]["env"]["GIT_AGENT_PROMPT"].as_str().unwrap();
    assert!(
        prompt.contains("+new") && !prompt.contains("+two"),
        "{prompt}"
    );
    let r = env.record("s");
    assert_eq!(
        r["review_runs"][0]["outcome"]["usage"]["cost_usd"], 0.1,
        "{r:#}"
    );
    assert_eq!(r["runs"].as_array().unwrap().len(), 1, "not sent");
    let round = std::fs::read_to_string(round_file(&env, 1)).unwrap();
    assert!(
        round.contains("status: open") && round.contains("## b.txt:1"),
        "{round}"
    );
    let list = env.agent(&["list"]).ok();
    assert!(list.stdout.contains("$0.110"), "{list}");
    // Its budget spent, s is charged no more reviews: refused before anything runs.
    let out = env.agent(&["review", "s", "--ai"]).code(128);
    assert!(
        out.stderr.contains("and a review's run is charged to it"),
        "{out}"
    );
    assert_eq!(asked(&env, "claude").len(), calls.len(), "no reviewer ran");
}

#[test]
fn ctrl_c_ends_the_reviewer_and_still_cleans_up_and_records() {
    interrupted_review(true);
}

#[test]
fn sigterm_to_review_alone_ends_its_reviewer_too() {
    interrupted_review(false);
}

/// `review --ai` interrupted while its reviewer runs: by Ctrl-C (SIGINT to the terminal's
/// whole process group), or by SIGTERM to our process alone, which passes it on.
fn interrupted_review(ctrl_c: bool) {
    use std::os::unix::process::CommandExt as _;
    let (env, _wt) = reviewed();
    let pidfile = env.path("reviewer.pid");
    next_script(
        &env,
        &format!(
            "pidfile {}\nsleep 300\nsay src/a.txt:1: late",
            pidfile.display()
        ),
    );
    let mut cmd = env.command(env.bin.join("git-agent-review"), &env.repo);
    cmd.args(["s", "--ai"]).process_group(0);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let ours = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    let reviewer = env.read_pid(&pidfile);
    if ctrl_c {
        nix::sys::signal::killpg(ours, nix::sys::signal::Signal::SIGINT).unwrap();
    } else {
        nix::sys::signal::kill(ours, nix::sys::signal::Signal::SIGTERM).unwrap();
    }
    // The fake reviewer would sleep for 5 minutes: one still there was not told.
    env.wait_until("the reviewer to end", || {
        crate::support::process_gone(reviewer)
    });
    env.wait_until("review to end", || child.try_wait().unwrap().is_some());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(128), "{stderr}");
    assert!(
        stderr.contains("fatal: the reviewer codex failed"),
        "{stderr}"
    );
    assert_eq!(worktrees(&env), 2, "{}", env.git(&["worktree", "list"]));
    let left: Vec<_> = std::fs::read_dir(env.env_value("TMPDIR"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("git-agent-review-")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let run = &env.record("s")["review_runs"][0];
    assert_eq!(run["ok"], false, "{run:#}");
    assert!(!round_file(&env, 1).exists());
}

/// A reviewer that ignores SIGTERM: a second signal to `review` kills it.
#[test]
fn a_second_signal_kills_a_reviewer_that_ignores_the_first() {
    use std::os::unix::process::CommandExt as _;
    let (env, _wt) = reviewed();
    let pidfile = env.path("reviewer.pid");
    next_script(
        &env,
        &format!("ignore-term\npidfile {}\nsleep 300", pidfile.display()),
    );
    let mut cmd = env.command(env.bin.join("git-agent-review"), &env.repo);
    cmd.args(["s", "--ai"]).process_group(0);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let ours = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    let reviewer = env.read_pid(&pidfile);
    // Again and again, as an impatient user would (one SIGTERM alone is ignored).
    env.wait_until("the reviewer to be killed", || {
        let _ = nix::sys::signal::kill(ours, nix::sys::signal::Signal::SIGTERM);
        std::thread::sleep(std::time::Duration::from_millis(100));
        crate::support::process_gone(reviewer)
    });
    env.wait_until("review to end", || child.try_wait().unwrap().is_some());
    let run = &env.record("s")["review_runs"][0];
    assert_eq!(run["ok"], false, "{run:#}");
}

/// Once its reviewer has ended, `review` is stopped by SIGTERM as any command is (here while
/// the human's editor is open), not left ignoring it.
#[test]
fn after_the_reviewer_sigterm_stops_review_as_usual() {
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::process::CommandExt as _;
    let (mut env, _wt) = reviewed();
    let editor = env.root().join("editor.sh");
    let editor_pid = env.path("editor.pid");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 300\n",
            editor_pid.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set_env("GIT_EDITOR", editor.to_str().unwrap());
    next_script(&env, "say src/a.txt:2: use a constant");
    let mut cmd = env.command(env.bin.join("git-agent-review"), &env.repo);
    cmd.args(["s", "--ai", "--edit"]).process_group(0);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let ours = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    let editor = env.read_pid(&editor_pid);
    nix::sys::signal::kill(ours, nix::sys::signal::Signal::SIGTERM).unwrap();
    let ended = (0..1500).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        child.try_wait().unwrap()
    });
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(editor),
        nix::sys::signal::Signal::SIGKILL,
    );
    use std::os::unix::process::ExitStatusExt as _;
    let ended = ended.expect("review ignored SIGTERM");
    assert_eq!(ended.signal(), Some(15), "{ended:?}");
    // The findings were saved before the editor opened.
    assert!(round_file(&env, 1).exists());
}

#[test]
fn the_human_edits_the_reviewers_round_before_it_is_sent() {
    let (mut env, _wt) = reviewed();
    let editor = env.root().join("editor.sh");
    // Drops the general remark, keeps the finding.
    std::fs::write(&editor, "#!/bin/sh\nsed -i '/^## General/,$d' \"$1\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set_env("GIT_EDITOR", editor.to_str().unwrap());
    next_script(&env, "say src/a.txt:2: use a constant\\nAlso add a test.");
    let out = env.agent(&["review", "s", "--ai", "--edit", "--send"]).ok();
    assert!(
        out.stdout
            .contains("Review round 1 of s: 2 comment(s) (2 new)")
            && out
                .stdout
                .contains("Review round 1 of s: 1 comment(s) after editing"),
        "{out}"
    );
    env.wait_state("s", "done");
    let calls: Vec<Value> = env.calls_of("s");
    let prompt = calls[1]["env"]["GIT_AGENT_PROMPT"].as_str().unwrap();
    assert!(
        prompt.contains("use a constant") && !prompt.contains("Also add a test"),
        "{prompt}"
    );

    // An editor that fails changes nothing and sends nothing.
    env.set_env("GIT_EDITOR", "false");
    next_script(&env, "say src/a.txt:2: again");
    let out = env
        .agent(&["review", "s", "--ai", "--edit", "--send"])
        .code(128);
    assert!(out.stderr.contains("the editor 'false' failed"), "{out}");
    let round = std::fs::read_to_string(round_file(&env, 2)).unwrap();
    assert!(
        round.contains("status: open") && round.contains("again"),
        "{round}"
    );
    assert!(!env.state_dir().join("sessions/s/EDIT_ROUND.md").exists());
}
