//! Stray detection on the chat files the real gemini 0.61.0 wrote (`tests/fixtures/gemini-chats/`,
//! see its README), and removal only ever of the stray, only of the session that ran.

use super::{Kind, classify, remove_strays};

const ID: &str = "9cec1d44-45c5-49bc-b7aa-b7ba157cb237";
const REAL: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/gemini-chats/session-2026-12-05T21-12-9cec1d44.jsonl"
));
const STRAY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/gemini-chats/session-2026-12-05T21-13-9cec1d44.jsonl"
));
const REAL_NAME: &str = "session-2026-12-05T21-12-9cec1d44.jsonl";
const STRAY_NAME: &str = "session-2026-12-05T21-13-9cec1d44.jsonl";

#[test]
fn the_real_files_are_told_apart() {
    assert_eq!(classify(REAL, ID), Kind::Conversation);
    assert_eq!(classify(STRAY, ID), Kind::Stray);
    // The conversation's first run alone (before any resume) is a conversation too.
    let first_run: String = REAL
        .lines()
        .take_while(|l| !l.contains("\"$set\":{\"sessionId\""))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(classify(&first_run, ID), Kind::Conversation);
}

#[test]
fn anything_in_doubt_is_not_a_stray() {
    let other = "9cec1d44-0000-4000-8000-000000000000";
    assert_eq!(classify(STRAY, other), Kind::Other, "another session's");
    assert_eq!(classify("", ID), Kind::Other);
    assert_eq!(classify(&format!("{STRAY}{{not json\n"), ID), Kind::Other);
    let renamed = format!("{STRAY}{{\"$set\":{{\"sessionId\":\"{other}\"}}}}\n");
    assert_eq!(classify(&renamed, ID), Kind::Other);
    let unknown = format!("{STRAY}{{\"id\":\"x\",\"type\":\"warning\",\"content\":\"?\"}}\n");
    assert_eq!(classify(&unknown, ID), Kind::Other);
    // A user message that only mentions the preamble is a message.
    let user = format!(
        "{STRAY}{{\"id\":\"x\",\"type\":\"user\",\"content\":[{{\"text\":\"what is <session_context>?\"}}]}}\n"
    );
    assert_eq!(classify(&user, ID), Kind::Conversation);
    // gemini's own notices do not make a conversation.
    let info = format!("{STRAY}{{\"id\":\"x\",\"type\":\"info\",\"content\":\"Imported\"}}\n");
    assert_eq!(classify(&info, ID), Kind::Stray);
}

/// A gemini home with the project `worktree` registered as `gsh`, holding `files`.
fn home(worktree: &std::path::Path, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let projects = serde_json::json!({"projects": {worktree.to_str().unwrap(): "gsh"}});
    std::fs::write(dir.path().join("projects.json"), projects.to_string()).unwrap();
    let chats = dir.path().join("tmp/gsh/chats");
    std::fs::create_dir_all(&chats).unwrap();
    for (name, text) in files {
        std::fs::write(chats.join(name), text).unwrap();
    }
    dir
}

fn left(home: &tempfile::TempDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.path().join("tmp/gsh/chats"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn only_the_stray_of_the_session_that_ran_is_removed() {
    let wt = tempfile::tempdir().unwrap();
    let other_stray = "session-2026-12-05T21-13-1acfff9a.jsonl";
    let other_text = STRAY.replace(ID, "1acfff9a-0000-4000-8000-000000000000");
    let h = home(
        wt.path(),
        &[
            (REAL_NAME, REAL),
            (STRAY_NAME, STRAY),
            (other_stray, &other_text),
        ],
    );
    let removed = remove_strays(h.path(), wt.path(), ID);
    assert_eq!(removed, [h.path().join("tmp/gsh/chats").join(STRAY_NAME)]);
    assert_eq!(left(&h), [REAL_NAME, other_stray]);
    assert!(remove_strays(h.path(), wt.path(), ID).is_empty());
}

#[test]
fn a_stray_is_kept_without_the_conversation_beside_it() {
    let wt = tempfile::tempdir().unwrap();
    let h = home(wt.path(), &[(STRAY_NAME, STRAY)]);
    assert!(remove_strays(h.path(), wt.path(), ID).is_empty());
    assert_eq!(left(&h), [STRAY_NAME]);
}

#[test]
fn another_projects_folder_and_odd_ids_are_left_alone() {
    let wt = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let h = home(elsewhere.path(), &[(REAL_NAME, REAL), (STRAY_NAME, STRAY)]);
    assert!(remove_strays(h.path(), wt.path(), ID).is_empty());
    let h = home(wt.path(), &[(REAL_NAME, REAL), (STRAY_NAME, STRAY)]);
    for id in [
        "",
        "9cec1d4",
        "../../x-45c5",
        "9CEC1D4Z-rest",
        "9cec1d4*",
        "9cec1d44-0000-4000-8000-000000000000",
    ] {
        assert!(remove_strays(h.path(), wt.path(), id).is_empty(), "{id:?}");
    }
    assert_eq!(left(&h), [REAL_NAME, STRAY_NAME]);
}
