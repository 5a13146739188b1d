//! Gemini's chats: registry, strays, session file.

use std::path::Path;

use serde_json::json;

use super::*;

const SESSION_CONTEXT: &str =
    "<session_context>\nThis is the Gemini CLI. We are setting up the context for our chat.";

fn gemini_chat(id: &str, start: &str, messages: &[(&str, &str, &str)]) -> String {
    let mut v = vec![
        json!({"sessionId":id,"projectHash":"c29e8f87","startTime":start,"lastUpdated":start,"kind":"main"}),
        json!({"$set":{"messages":[{"id":"ctx","timestamp":start,"type":"user","content":[{"text":SESSION_CONTEXT}]}]}}),
    ];
    for (mid, kind, text) in messages {
        let content = if *kind == "user" {
            json!([{"text": text}])
        } else {
            json!(text)
        };
        let line = json!({"id":mid,"timestamp":start,"type":kind,"content":content});
        v.push(line.clone());
        if *kind == "gemini" {
            // Gemini writes a reply again once its tool calls are known.
            v.push(line);
        }
        v.push(json!({"$set":{"lastUpdated":start}}));
    }
    lines(&v)
}

#[test]
fn gemini_latest_reads_the_registry_skips_strays_and_takes_the_newest_session() {
    let t = tempfile::tempdir().unwrap();
    let s = stores(t.path());
    let (a, b) = (Path::new("/tmp/r18/A"), Path::new("/tmp/r18/B"));
    put(
        &s.gemini.join("projects.json"),
        r#"{"projects": {"/tmp/r18/A": "a", "/tmp/r18/B": "b-1"}}"#,
        0,
    );
    let chats = s.gemini.join("tmp/a/chats");
    let real_text = gemini_chat(
        "9d908358-dcfd",
        "2026-12-05T19:49:35.161Z",
        &[
            ("m1", "user", "FIRSTMSG g"),
            ("m2", "gemini", "REPLY-ONE-BANANA"),
            ("m3", "user", "SECONDMSG g"),
        ],
    );
    let real_file = put(
        &chats.join("session-2026-12-05T19-49-9d908358.jsonl"),
        &real_text,
        10,
    );
    // Another, older session of A.
    put(
        &chats.join("session-2026-12-05T19-40-283f6751.jsonl"),
        &gemini_chat(
            "283f6751-92da",
            "2026-12-05T19:40:43.006Z",
            &[("n1", "user", "OLDER")],
        ),
        30,
    );
    // The stray a later resume left: newer, same id, nothing but the session context.
    put(
        &chats.join("session-2026-12-05T19-50-9d908358.jsonl"),
        &gemini_chat("9d908358-dcfd", "2026-12-05T19:50:39.690Z", &[]),
        40,
    );
    // B's, newer still.
    put(
        &s.gemini
            .join("tmp/b-1/chats/session-2026-12-05T19-55-aaaaaaaa.jsonl"),
        &gemini_chat(
            "aaaaaaaa-b",
            "2026-12-05T19:55:00.000Z",
            &[("b1", "user", "IN B")],
        ),
        50,
    );
    let c = latest(Cli::Gemini, &s, a).unwrap().unwrap();
    assert_eq!(c.id.as_deref(), Some("9d908358-dcfd"));
    assert_eq!(c.file.as_deref(), Some(real_file.as_path()));
    assert_eq!(c.first_message.as_deref(), Some("FIRSTMSG g"));
    assert_eq!(
        c.updated,
        SystemTime::from(
            "2026-12-05T19:49:35.161Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
        )
    );
    assert_eq!(
        summary(&c, &s).unwrap(),
        "User: FIRSTMSG g\n\nAssistant: REPLY-ONE-BANANA\n\nUser: SECONDMSG g"
    );
    assert_eq!(
        latest(Cli::Gemini, &s, b)
            .unwrap()
            .unwrap()
            .first_message
            .as_deref(),
        Some("IN B")
    );
    let older = find(Cli::Gemini, &s, Some("283f6751-92da"), a)
        .unwrap()
        .unwrap();
    assert_eq!(older.first_message.as_deref(), Some("OLDER"));
    assert_eq!(find(Cli::Gemini, &s, Some("aaaaaaaa-b"), a).unwrap(), None);
    assert_eq!(
        latest(Cli::Gemini, &s, Path::new("/tmp/r18/C")).unwrap(),
        None
    );

    // The carry names the original file; the original is not touched.
    let args = strings(&[
        "-p",
        "{prompt}",
        "--output-format",
        "stream-json",
        "{mode}",
        "--skip-trust",
    ]);
    let carried = carry(&c, &s, b, &args, None, &NO_TOOL).unwrap();
    let mut want = args.clone();
    want.extend([
        "--session-file".to_owned(),
        real_file.to_string_lossy().into_owned(),
    ]);
    assert_eq!(carried.first_args, want);
    assert!(carried.made.is_empty());
    assert_eq!(std::fs::read_to_string(&real_file).unwrap(), real_text);
}

#[test]
fn gemini_finds_a_directory_missing_from_the_registry_by_its_marker() {
    let t = tempfile::tempdir().unwrap();
    let s = stores(t.path());
    put(&s.gemini.join("tmp/a/.project_root"), "/tmp/r18/A", 0);
    put(
        &s.gemini
            .join("tmp/a/chats/session-2026-12-05T19-49-11111111.jsonl"),
        &gemini_chat(
            "11111111-x",
            "2026-12-05T19:49:35.161Z",
            &[("m1", "user", "HI")],
        ),
        10,
    );
    let c = latest(Cli::Gemini, &s, Path::new("/tmp/r18/A"))
        .unwrap()
        .unwrap();
    assert_eq!(c.id.as_deref(), Some("11111111-x"));
}
