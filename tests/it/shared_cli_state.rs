//! Agent CLIs that keep state per checkout, run as two sessions in one worktree (`new --in`):
//! aider's chat history is the session's own, every run of it; gemini's stray chat file, which
//! would cost a resumed session its conversation, goes after each run.

use crate::support::TestEnv;

fn args_of(env: &TestEnv, name: &str) -> Vec<Vec<String>> {
    env.calls_of(name)
        .iter()
        .map(crate::support::args_of)
        .collect()
}

fn value_of<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.windows(2)
        .find(|w| w[0] == flag)
        .map(|w| w[1].as_str())
}

#[test]
fn an_aider_session_sharing_a_worktree_keeps_its_own_chat_history() {
    let mut env = TestEnv::new();
    env.install_fake("aider");
    let script = env.script("agent", "write out-$GIT_AGENT_NAME.txt x");
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&["new", "--agent", "aider", "--name", "a", "plan it"])
        .ok();
    env.wait_state("a", "done");
    env.agent(&[
        "new", "--in", "a", "--agent", "aider", "--name", "b", "do it",
    ])
    .ok();
    env.wait_state("b", "done");

    let a = &args_of(&env, "a")[0];
    assert_eq!(value_of(a, "--chat-history-file"), None, "{a:?}");
    assert_eq!(value_of(a, "--input-history-file"), None, "{a:?}");
    let own = |args: &[String]| {
        value_of(args, "--chat-history-file") == Some(".aider.b.chat.history.md")
            && value_of(args, "--input-history-file") == Some(".aider.b.input.history")
    };
    let b = &args_of(&env, "b")[0];
    assert!(own(b), "b's first run has its own histories: {b:?}");

    env.agent(&["send", "b", "more"]).ok();
    env.wait_state("b", "done");
    let b2 = &args_of(&env, "b")[1];
    assert!(
        b2.contains(&"--restore-chat-history".to_owned()) && own(b2),
        "b's follow-up restores its own history: {b2:?}"
    );

    // Read-only, aider's ask mode already sends its histories nowhere: that stays. (It
    // writes nothing: its sandbox would refuse.)
    let look = env.script("look", "say looked");
    env.set_env("GIT_AGENT_TEST_SCRIPT", look.to_str().unwrap());
    env.agent(&[
        "new",
        "--in",
        "a",
        "--read-only",
        "--agent",
        "aider",
        "--name",
        "c",
        "look",
    ])
    .ok();
    env.wait_state("c", "done");
    let c = &args_of(&env, "c")[0];
    assert_eq!(
        value_of(c, "--chat-history-file"),
        Some("/dev/null"),
        "{c:?}"
    );
    assert_eq!(
        c.iter().filter(|x| *x == "--chat-history-file").count(),
        1,
        "{c:?}"
    );
}

/// The chat files gemini keeps for the project registered as `wt`.
fn gemini_chats(env: &TestEnv) -> Vec<String> {
    let dir = env.home.join(".gemini/tmp/wt/chats");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Gemini's resume leaves a near-empty chat file next to the conversation (same short id),
/// and the next run of another session in that directory would make gemini delete both
/// (`agents/gemini_strays.rs`; the real CLI's case is in `real_shared_worktree.rs`). The
/// supervisor removes that file after the run, and only that one.
#[test]
fn a_gemini_runs_stray_chat_file_is_removed_after_the_run() {
    let mut env = TestEnv::new();
    env.install_fake("gemini");
    let chats = "$HOME/.gemini/tmp/wt/chats";
    let meta = |id: &str| format!(r#"{{"sessionId":"{id}","kind":"main"}}"#);
    let context = r#"{"$set":{"messages":[{"id":"c","type":"user","content":[{"text":"<session_context>here</session_context>"}]}]}}"#;
    let talk = r#"{"id":"u","type":"user","content":[{"text":"FIRST"}]}\n{"id":"g","type":"gemini","content":"REPLY"}"#;
    let me = meta("$AGENT_SESSION_ID");
    // Another session's stray with the same short id (`fake-ses`) is not ours to remove.
    let other = meta("fake-session-0");
    let script = format!(
        "write $HOME/.gemini/projects.json {{\"projects\":{{\"$GIT_AGENT_WORKTREE\":\"wt\"}}}}\n\
         write {chats}/session-2026-01-01T10-00-fake-ses.jsonl {me}\\n{context}\\n{talk}\n\
         write {chats}/session-2026-01-01T10-01-fake-ses.jsonl {me}\\n{context}\n\
         write {chats}/session-2026-01-01T10-02-fake-ses.jsonl {other}\\n{context}\n\
         write {chats}/session-2026-01-01T10-03-fake-ses.jsonl {me}\\n{context}\\n{{half\n"
    );
    let path = env.script("agent", &script);
    env.set_env("GIT_AGENT_TEST_SCRIPT", path.to_str().unwrap());
    env.agent(&["new", "--agent", "gemini", "--name", "g", "task"])
        .ok();
    env.wait_state("g", "done");
    assert_eq!(
        gemini_chats(&env),
        [
            "session-2026-01-01T10-00-fake-ses.jsonl",
            "session-2026-01-01T10-02-fake-ses.jsonl",
            "session-2026-01-01T10-03-fake-ses.jsonl",
        ],
        "only the run's own stray went; the conversation, another session's file and one \
         that does not read as a stray stay"
    );
}
