//! Opt-in tier (see `real_agents.rs`): two real gemini sessions in one worktree (`new --in`)
//! keep both conversations.
//!
//! Gemini 0.61.0, resumed in a later minute than its chat file's name, leaves a stray file
//! with the same short id; the next run of another session in that directory then deletes
//! the resumed conversation (its retention cleanup), and the next resume exits 42. git-agent
//! removes the stray after each run (`agents/gemini_strays.rs`). Takes a little over a minute:
//! the resume must fall in a later minute than the first run.
//!
//! ```sh
//! GIT_AGENT_REAL_AGENTS=gemini cargo test --test it real_shared -- --nocapture
//! ```

use std::time::Duration;

use crate::real_agents::{configure, installed, model_requests, serve};
use crate::support::TestEnv;

/// The chat files of gemini session `id` in the test's gemini home.
fn chat_files(env: &TestEnv, id: &str) -> Vec<String> {
    let mut out = Vec::new();
    let tmp = env.home.join(".gemini/tmp");
    for project in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        let chats = project.path().join("chats");
        for f in std::fs::read_dir(chats).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(&format!("-{}.jsonl", &id[..8])) {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

/// Sleeps into the next wall-clock minute.
fn next_minute() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(Duration::from_secs(61 - now.as_secs() % 60));
}

#[test]
fn real_gemini_sessions_sharing_a_worktree_keep_both_conversations() {
    for (cli, program) in installed(&["gemini"]) {
        let mut env = TestEnv::new();
        let script = r#"{"conversations": [
  {"match": "FORKMSG", "turns": [{"text": "REPLY-FORK-ELDER"}]},
  {"match": "THIRDMSG", "turns": [{"text": "REPLY-THREE-DATE"}]},
  {"match": "SECONDMSG", "turns": [{"text": "REPLY-TWO-CHERRY"}]},
  {"match": "FIRSTMSG", "turns": [{"text": "REPLY-ONE-BANANA"}]}
]}"#;
        let server = serve(&env, script, &env.repo.clone());
        configure(&mut env, cli, &program, &server.base);
        env.agent(&["new", "--agent", cli, "--name", "a", "FIRSTMSG plan"])
            .ok();
        env.wait_state("a", "done");
        let id = env.record("a")["agent_session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        next_minute();
        env.agent(&["send", "a", "SECONDMSG go on"]).ok();
        env.wait_state("a", "done");
        let after_resume = chat_files(&env, &id);
        assert!(!after_resume.is_empty(), "a's conversation is on disk");

        env.agent(&[
            "new", "--in", "a", "--agent", cli, "--name", "b", "THIRDMSG",
        ])
        .ok();
        env.wait_state("b", "done");
        assert_eq!(
            chat_files(&env, &id),
            after_resume,
            "another session's run in the worktree deleted a's conversation"
        );

        env.agent(&["send", "a", "FORKMSG once more"]).ok();
        let waited = env.agent(&["wait", "--timeout", "2m", "a"]);
        let logs = env.agent(&["logs", "a", "--raw"]).stdout;
        assert_eq!(waited.code, 0, "a's resume failed:\n{waited}\n{logs}");
        let requests = model_requests(&env);
        let last = requests
            .iter()
            .rev()
            .find(|e| e["matched"] == "FORKMSG")
            .expect("a request for FORKMSG");
        let body = last["body"].to_string();
        assert!(
            body.contains("REPLY-ONE-BANANA") && body.contains("REPLY-TWO-CHERRY"),
            "a's third run carries its whole conversation: {last:#}"
        );
        assert!(!body.contains("THIRDMSG"), "and not b's: {last:#}");
        let files = chat_files(&env, &id);
        assert_eq!(files.len(), 1, "no stray is left behind: {files:?}");
        eprintln!("real agent {cli}: two sessions in one worktree kept both conversations");
    }
}
