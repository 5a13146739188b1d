//! `git agent fork NAME` and `git agent new --continue CLI[:ID]` (issue 18's first two
//! workflows) with the fake agent installed as claude and codex: it keeps its conversations
//! where those CLIs keep theirs (claude's `projects/<key>/<id>.jsonl`, codex's rollouts), and
//! a fork of one (`--resume ID --fork-session`, `exec … fork ID`) starts a conversation of its
//! own seeded with a copy of the original. The state rules: where the fork's branch starts,
//! whose changes it holds, which conversation its agent resumes, and that the original
//! session, worktree and conversation are untouched.

use std::path::{Path, PathBuf};

use crate::support::{TestEnv, args_of};

fn claude_key(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .unwrap()
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Claude's transcript of conversation `id` started in `dir`.
fn claude_file(env: &TestEnv, dir: &Path, id: &str) -> PathBuf {
    env.root()
        .join("home/.claude/projects")
        .join(claude_key(dir))
        .join(format!("{id}.jsonl"))
}

/// Claude's arguments fork conversation `id` (`--resume ID --fork-session`).
fn forks(argv: &[String], id: &str) -> bool {
    argv.windows(2).any(|w| w[0] == "--resume" && w[1] == id)
        && argv.iter().any(|a| a == "--fork-session")
}

fn worktree(env: &TestEnv, name: &str) -> PathBuf {
    PathBuf::from(env.record(name)["worktree"].as_str().unwrap())
}

/// Session `a` (claude) that committed one file and left another uncommitted, done.
fn with_done_claude() -> TestEnv {
    let mut env = TestEnv::new();
    env.install_fake("claude");
    env.install_fake("codex");
    let script = env.script(
        "a",
        "write kept.txt committed by a\ncommit a's commit\nwrite wip.txt uncommitted by a\nsay REPLY-ONE\n",
    );
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&[
        "new",
        "--agent",
        "claude",
        "--name",
        "a",
        "--no-auto-commit",
        "FIRSTMSG",
    ])
    .ok();
    env.wait_state("a", "done");
    env
}

#[test]
fn fork_starts_at_the_tip_with_the_uncommitted_work_and_leaves_the_original_alone() {
    let env = with_done_claude();
    let a = env.record("a");
    let a_id = a["agent_session_id"].as_str().unwrap().to_owned();
    let a_wt = worktree(&env, "a");
    let a_file = claude_file(&env, &a_wt, &a_id);
    let original = std::fs::read(&a_file).expect("a's conversation is where claude keeps it");
    let a_status = env.git_in(&a_wt, &["status", "--porcelain"]);
    let a_tip = env.git_in(&a_wt, &["rev-parse", "HEAD"]);

    let out = env
        .agent(&["fork", "a", "FORKMSG", "try", "another", "way"])
        .ok();
    assert!(
        out.stderr
            .contains("note: a-fork forks a's claude conversation"),
        "{out}"
    );
    env.wait_state("a-fork", "done");
    let f = env.record("a-fork");
    let f_wt = worktree(&env, "a-fork");

    // The branch starts at a's tip, a's uncommitted work copied in.
    assert_eq!(
        env.git(&["merge-base", "--is-ancestor", a_tip.trim(), "agent/a-fork"]),
        ""
    );
    assert_eq!(
        std::fs::read_to_string(f_wt.join("wip.txt")).unwrap(),
        "uncommitted by a\n"
    );
    assert_eq!(f["took_changes"]["cleaned"], false);
    assert_eq!(f["took_changes"]["from"], a["worktree"]);
    // The same base as a: a variant of the same task, in a's group.
    assert_eq!(f["base"], a["base"]);
    assert_eq!(f["start_commit"], a_tip.trim());
    assert_eq!(f["group"]["id"], "a");
    assert_eq!(env.record("a")["group"]["id"], "a");
    assert_eq!(f["conversation"]["how"], "fork");
    assert_eq!(f["conversation"]["session"], "a");
    assert_eq!(f["conversation"]["id"], a_id.as_str());
    let shown = env.agent(&["show", "a-fork"]).ok();
    assert!(
        shown
            .stdout
            .contains(&format!("a fork of a's claude conversation {a_id}")),
        "{shown}"
    );

    // Its agent forked a's conversation, in its own worktree, with the message.
    let call = env.calls_of("a-fork").remove(0);
    let argv = args_of(&call);
    assert!(forks(&argv, &a_id), "{argv:?}");
    assert!(
        argv.iter().any(|x| x.contains("FORKMSG try another way")),
        "{argv:?}"
    );
    assert_eq!(
        std::fs::canonicalize(call["cwd"].as_str().unwrap()).unwrap(),
        std::fs::canonicalize(&f_wt).unwrap()
    );
    let f_id = f["agent_session_id"].as_str().unwrap();
    assert_ne!(f_id, a_id, "a conversation of its own");
    let forked = std::fs::read_to_string(claude_file(&env, &f_wt, f_id)).unwrap();
    assert!(forked.contains("FIRSTMSG") && forked.contains("REPLY-ONE"));
    assert!(forked.contains("FORKMSG"));

    // a is untouched: its conversation, its worktree, its changes.
    assert_eq!(std::fs::read(&a_file).unwrap(), original);
    assert_eq!(env.git_in(&a_wt, &["status", "--porcelain"]), a_status);
    assert_eq!(env.git_in(&a_wt, &["rev-parse", "HEAD"]), a_tip);

    // And still resumable: a follow-up resumes a's own conversation, without the fork's.
    env.agent(&["send", "a", "THIRDMSG"]).ok();
    env.wait_until("a's second run ends", || {
        env.record("a")["runs"].as_array().unwrap().len() == 2 && env.stored_state("a") == "done"
    });
    let argv = args_of(env.calls_of("a").last().unwrap());
    let at = argv.iter().position(|x| x == "--resume").unwrap();
    assert_eq!(argv[at + 1], a_id);
    assert!(!argv.contains(&"--fork-session".to_owned()), "{argv:?}");
    let after = std::fs::read_to_string(&a_file).unwrap();
    assert!(after.contains("THIRDMSG") && !after.contains("FORKMSG"));
}

#[test]
fn fork_of_a_codex_session_uses_codex_fork_and_a_second_fork_joins_the_group() {
    let mut env = TestEnv::new();
    env.install_fake("codex");
    let script = env.script("x", "say REPLY-ONE\n");
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&["new", "--agent", "codex", "--name", "x", "FIRSTMSG"])
        .ok();
    env.wait_state("x", "done");
    let x_id = env.record("x")["agent_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.agent(&["fork", "x", "--name", "x2", "-m", "FORKMSG"])
        .ok();
    env.wait_state("x2", "done");
    let argv = args_of(&env.calls_of("x2")[0]);
    let at = argv
        .iter()
        .position(|x| x == "fork")
        .expect("codex exec … fork ID");
    assert_eq!(argv[at + 1], x_id);
    assert!(!argv.contains(&"resume".to_owned()), "{argv:?}");
    assert!(
        argv[..at].contains(&"--sandbox".to_owned()),
        "the mode goes before fork: {argv:?}"
    );
    // A follow-up of the fork resumes the fork's own thread.
    let x2_id = env.record("x2")["agent_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(x2_id, x_id);
    env.agent(&["fork", "x", "-m", "ANOTHER"]).ok();
    env.wait_state("x-fork", "done");
    let groups: Vec<_> = ["x", "x2", "x-fork"]
        .iter()
        .map(|n| {
            let g = &env.record(n)["group"];
            (
                g["id"].as_str().unwrap().to_owned(),
                g["index"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(groups, [("x".into(), 1), ("x".into(), 2), ("x".into(), 3)]);
    let out = env.agent(&["review", "--group", "x", "--stat"]);
    for n in ["x2", "x-fork"] {
        assert!(
            out.stdout.contains(n),
            "review --group compares them: {out}"
        );
    }
}

#[test]
fn fork_is_refused_before_anything_is_made() {
    let mut env = TestEnv::new();
    env.install_fake("claude");
    let release = env.path("release");
    let script = env.script("w", &format!("wait-for {}\n", release.display()));
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&["new", "--agent", "claude", "--name", "w", "work"])
        .ok();
    env.wait_state("w", "running");
    let branches = env.git(&["branch", "--list"]);

    let out = env.agent(&["fork", "w", "another way"]).code(128);
    assert!(
        out.stderr
            .contains("fatal: cannot fork 'w' while 'w' is running"),
        "{out}"
    );
    assert!(out.stderr.contains("hint: wait for it"), "{out}");
    let out = env.agent(&["fork", "w"]).code(2);
    assert!(out.stderr.contains("error: no message given"), "{out}");
    let out = env.agent(&["fork", "nope", "x"]).code(128);
    assert!(out.stderr.contains("nope"), "{out}");
    env.touch("release");
    env.wait_state("w", "done");

    // A merge stopped in w's worktree: said in w's terms, nothing made.
    let w_wt = worktree(&env, "w");
    env.git(&["commit", "-q", "--allow-empty", "-m", "moved on"]);
    std::fs::write(env.repo.join("README.md"), "main's\n").unwrap();
    env.git(&["commit", "-q", "-am", "main's readme"]);
    std::fs::write(w_wt.join("README.md"), "w's\n").unwrap();
    env.git_in(&w_wt, &["commit", "-q", "-am", "w's readme"]);
    let merged = env.run({
        let mut cmd = env.command("git", &w_wt);
        cmd.args(["merge", "-q", "main"]);
        cmd
    });
    assert_ne!(merged.code, 0, "{merged}");
    let out = env.agent(&["fork", "w", "x"]).code(128);
    assert!(
        out.stderr
            .contains("cannot fork 'w': its worktree has unmerged paths"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("('git agent sync w --continue' or --abort if it was git-agent's)"),
        "{out}"
    );
    assert!(
        env.git_in(&w_wt, &["status", "--porcelain"])
            .contains("UU README.md")
    );
    env.git_in(&w_wt, &["merge", "--abort"]);
    // A command profile keeps no conversation to fork.
    env.agent(&["new", "--name", "cmd", "t", "--", "true"]).ok();
    env.wait_state("cmd", "done");
    let out = env.agent(&["fork", "cmd", "x"]).code(128);
    assert!(
        out.stderr.contains("cannot take up a conversation"),
        "{out}"
    );
    // The conversation is gone from claude's store: said, nothing made.
    let w = env.record("w");
    let file = claude_file(
        &env,
        &worktree(&env, "w"),
        w["agent_session_id"].as_str().unwrap(),
    );
    std::fs::remove_file(file).unwrap();
    let out = env.agent(&["fork", "w", "x"]).code(128);
    assert!(
        out.stderr.contains("claude does not have its conversation"),
        "{out}"
    );
    let now = env.git(&["branch", "--list"]);
    assert_eq!(
        now.lines()
            .filter(|l| !l.contains("agent/cmd"))
            .collect::<Vec<_>>(),
        branches.lines().collect::<Vec<_>>(),
        "no branch made by a refused fork"
    );
    assert!(!env.has_record("w-fork") && !env.has_record("cmd-fork"));
}

/// A conversation the user had with claude in the main checkout: claude's own transcript.
fn users_claude_conversation(env: &TestEnv, id: &str) -> PathBuf {
    let file = claude_file(env, &env.repo, id);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let cwd = env.repo.display();
    std::fs::write(
        &file,
        format!(
            "{{\"type\":\"user\",\"sessionId\":\"{id}\",\"cwd\":\"{cwd}\",\"message\":{{\"role\":\"user\",\"content\":\"FIRSTMSG refactor the parser\"}}}}\n\
             {{\"type\":\"assistant\",\"sessionId\":\"{id}\",\"cwd\":\"{cwd}\",\"message\":{{\"role\":\"assistant\",\"content\":[{{\"type\":\"text\",\"text\":\"REPLY-ONE it is half done\"}}]}}}}\n"
        ),
    )
    .unwrap();
    file
}

#[test]
fn continue_takes_up_the_checkouts_latest_conversation_and_the_changes() {
    let mut env = TestEnv::new();
    env.install_fake("claude");
    let script = env.script("c", "say REPLY-TWO\n");
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    let old = users_claude_conversation(&env, "11111111-1111-4111-8111-111111111111");
    let newest = users_claude_conversation(&env, "22222222-2222-4222-8222-222222222222");
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(past)
        .unwrap();
    let original = std::fs::read(&newest).unwrap();
    env.write("README.md", "hello, half refactored\n");
    env.write("notes.txt", "untracked notes\n");

    let out = env
        .agent(&[
            "new",
            "--continue",
            "claude",
            "--take-changes",
            "--name",
            "c",
            "SECONDMSG finish it",
        ])
        .ok();
    assert!(
        out.stderr.contains(
            "note: c takes up the claude conversation 22222222 (\"FIRSTMSG refactor the parser\")"
        ),
        "{out}"
    );
    env.wait_state("c", "done");
    let c = env.record("c");
    let wt = worktree(&env, "c");
    assert_eq!(c["conversation"]["how"], "continue");
    assert_eq!(
        c["conversation"]["id"],
        "22222222-2222-4222-8222-222222222222"
    );
    let argv = args_of(&env.calls_of("c")[0]);
    assert!(
        forks(&argv, "22222222-2222-4222-8222-222222222222"),
        "{argv:?}"
    );
    // The conversation was copied where claude looks for the worktree's, never moved.
    assert!(claude_file(&env, &wt, "22222222-2222-4222-8222-222222222222").is_file());
    assert_eq!(std::fs::read(&newest).unwrap(), original);
    // The changes moved, as --take-changes moves them.
    assert_eq!(env.git(&["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(wt.join("notes.txt")).unwrap(),
        "untracked notes\n"
    );
    let transcript = std::fs::read_to_string(claude_file(
        &env,
        &wt,
        c["agent_session_id"].as_str().unwrap(),
    ))
    .unwrap();
    assert!(transcript.contains("REPLY-ONE it is half done") && transcript.contains("SECONDMSG"));

    // An id names one conversation (the older one here).
    env.agent(&[
        "new",
        "--continue",
        "claude:11111111-1111-4111-8111-111111111111",
        "--name",
        "d",
        "go on",
    ])
    .ok();
    env.wait_state("d", "done");
    let argv = args_of(&env.calls_of("d")[0]);
    assert!(argv.contains(&"11111111-1111-4111-8111-111111111111".to_owned()));

    // Variants each take up a copy of their own, and each goes its own way from it.
    env.agent(&[
        "new",
        "--continue",
        "claude:22222222-2222-4222-8222-222222222222",
        "-n",
        "2",
        "--name",
        "v",
        "go on",
    ])
    .ok();
    let mut own = Vec::new();
    for v in ["v-1", "v-2"] {
        env.wait_state(v, "done");
        let wt = worktree(&env, v);
        assert!(
            claude_file(&env, &wt, "22222222-2222-4222-8222-222222222222").is_file(),
            "{v}"
        );
        let argv = args_of(&env.calls_of(v)[0]);
        assert!(
            forks(&argv, "22222222-2222-4222-8222-222222222222"),
            "{v}: {argv:?}"
        );
        own.push(
            env.record(v)["agent_session_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_ne!(own[0], own[1]);
    assert_eq!(std::fs::read(&newest).unwrap(), original);
}

#[test]
fn continue_refuses_before_anything_moves_and_offers_a_fresh_start() {
    let mut env = TestEnv::new();
    env.install_fake("claude");
    env.install_fake("codex");
    let script = env.script("c", "say ok\n");
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.write("README.md", "changed\n");
    let unchanged = || {
        assert_eq!(env.git(&["status", "--porcelain"]), " M README.md\n");
        assert_eq!(env.git(&["branch", "--list"]), "* main\n");
    };

    let out = env
        .agent(&["new", "--continue", "claude", "--take-changes", "go on"])
        .code(128);
    assert!(
        out.stderr
            .contains("fatal: --continue: no claude conversation belongs to"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: start one here with 'claude' first"),
        "{out}"
    );
    unchanged();
    let out = env
        .agent(&[
            "new",
            "--continue",
            "claude:nope",
            "--take-changes",
            "go on",
        ])
        .code(128);
    assert!(
        out.stderr.contains("no claude conversation 'nope'"),
        "{out}"
    );
    unchanged();
    let out = env.agent(&["new", "--continue", "vim", "go on"]).code(2);
    assert!(out.stderr.contains("unknown agent CLI 'vim'"), "{out}");
    let out = env
        .agent(&["new", "--continue", "claude", "go", "--", "true"])
        .code(2);
    assert!(out.stderr.contains("cannot be used together"), "{out}");

    users_claude_conversation(&env, "33333333-3333-4333-8333-333333333333");
    // Codex cannot take up claude's conversation: said, with the way out.
    let out = env
        .agent(&[
            "new",
            "--continue",
            "claude",
            "--agent",
            "codex",
            "--take-changes",
            "go on",
        ])
        .code(128);
    assert!(
        out.stderr.contains(
            "fatal: --continue claude: profile 'codex' cannot take up a claude conversation"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("--fresh"), "{out}");
    unchanged();
    // --fresh: codex starts afresh, the task followed by the conversation's last turns.
    env.agent(&[
        "new",
        "--continue",
        "claude",
        "--agent",
        "codex",
        "--fresh",
        "--name",
        "fresh",
        "SECONDMSG finish it",
    ])
    .ok();
    env.wait_state("fresh", "done");
    let argv = args_of(&env.calls_of("fresh")[0]);
    let prompt = argv.last().unwrap();
    assert!(prompt.starts_with("SECONDMSG finish it"), "{prompt}");
    assert!(
        prompt.contains("FIRSTMSG refactor the parser")
            && prompt.contains("REPLY-ONE it is half done"),
        "{prompt}"
    );
    assert!(!argv.contains(&"resume".to_owned()) && !argv.contains(&"fork".to_owned()));
    assert!(env.record("fresh").get("conversation").is_none());
}

#[test]
fn kill_9_at_every_step_of_fork_leaves_the_original_whole_and_nothing_doctor_cannot_put_right() {
    for point in [
        "new:reserved",
        "new:worktree",
        "new:changes",
        "new:carried",
        "new:spawned",
    ] {
        let mut env = with_done_claude();
        let say = env.script("say", "say ok\n");
        env.set_env("GIT_AGENT_TEST_SCRIPT", say.to_str().unwrap());
        let a_id = env.record("a")["agent_session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let a_wt = worktree(&env, "a");
        let a_file = claude_file(&env, &a_wt, &a_id);
        let (conversation, status) = (
            std::fs::read(&a_file).unwrap(),
            env.git_in(&a_wt, &["status", "--porcelain"]),
        );
        env.set_env("GIT_AGENT_CRASH_AT", point);
        let out = env.agent(&["fork", "a", "FORKMSG"]);
        assert_ne!(
            out.code, 0,
            "{point}: the crash point was not reached:\n{out}"
        );
        env.set_env("GIT_AGENT_CRASH_AT", "");
        if point == "new:spawned" {
            env.wait_state("a-fork", "done");
        }
        let fix = env.agent(&["doctor", "--fix"]);
        assert_eq!(fix.code, 0, "{point}: {fix}");
        let again = env.agent(&["doctor"]);
        assert_eq!(again.code, 0, "{point}: {again}");
        match point {
            // Killed before anything but a clean checkout at a's tip was made: taken back.
            "new:reserved" | "new:worktree" => {
                assert!(
                    fix.stdout.contains("interrupted before its agent started"),
                    "{point}: {fix}"
                );
                assert!(!env.has_record("a-fork"), "{point}");
                assert!(
                    env.git(&["branch", "--list", "agent/a-fork"]).is_empty(),
                    "{point}"
                );
            }
            // a's work was copied in: kept, and its first run takes up a's conversation,
            // carried now if the kill came first.
            "new:changes" | "new:carried" => {
                let out = env.agent(&["resume", "a-fork"]).ok();
                assert!(
                    out.stdout.contains("resuming claude's conversation"),
                    "{point}: {out}"
                );
                env.wait_state("a-fork", "done");
                let argv = args_of(env.calls_of("a-fork").last().unwrap());
                assert!(forks(&argv, &a_id), "{point}: {argv:?}");
                let fork_wt = worktree(&env, "a-fork");
                assert!(fork_wt.join("wip.txt").is_file(), "{point}");
            }
            _ => {}
        }
        assert_eq!(std::fs::read(&a_file).unwrap(), conversation, "{point}");
        assert_eq!(
            env.git_in(&a_wt, &["status", "--porcelain"]),
            status,
            "{point}"
        );
        // a is still resumable, and can be forked again.
        env.agent(&["send", "a", "THIRDMSG"]).ok();
        env.wait_until("a's second run ends", || {
            env.record("a")["runs"].as_array().unwrap().len() == 2
                && env.stored_state("a") == "done"
        });
        env.agent(&["fork", "a", "--name", "again", "FORKMSG"]).ok();
        env.wait_state("again", "done");
    }
}

/// A carry that fails leaves the fork `failed` with its worktree kept; once the cause is gone,
/// `resume` carries the conversation before the agent's first run, and until then refuses
/// rather than start it afresh.
#[test]
fn a_fork_whose_carry_failed_takes_its_conversation_up_at_resume() {
    let mut env = with_done_claude();
    let say = env.script("say", "say ok\n");
    env.set_env("GIT_AGENT_TEST_SCRIPT", say.to_str().unwrap());
    let a_id = env.record("a")["agent_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A file where claude keeps the fork's conversations: the copy cannot be made.
    let fork_wt = std::fs::canonicalize(env.agents_dir())
        .unwrap()
        .join("a-fork");
    let blocker = env
        .root()
        .join("home/.claude/projects")
        .join(claude_key(&env.agents_dir()) + "-a-fork");
    assert_eq!(
        blocker.file_name().unwrap().to_string_lossy(),
        fork_wt
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
    );
    std::fs::write(&blocker, "in the way\n").unwrap();
    let out = env.agent(&["fork", "a", "FORKMSG"]).code(128);
    assert!(
        out.stderr.contains("could not take up the conversation"),
        "{out}"
    );
    assert_eq!(env.stored_state("a-fork"), "failed");
    assert!(fork_wt.join("wip.txt").is_file(), "the copied work is kept");

    let out = env.agent(&["resume", "a-fork"]).code(128);
    assert!(
        out.stderr
            .contains("'a-fork' could not take up its claude conversation before its first run"),
        "{out}"
    );
    assert!(env.calls_of("a-fork").is_empty(), "nothing ran afresh");

    std::fs::remove_file(&blocker).unwrap();
    let out = env.agent(&["resume", "a-fork"]).ok();
    assert!(
        out.stdout.contains("resuming claude's conversation"),
        "{out}"
    );
    env.wait_state("a-fork", "done");
    let argv = args_of(&env.calls_of("a-fork")[0]);
    assert!(forks(&argv, &a_id), "{argv:?}");
}
