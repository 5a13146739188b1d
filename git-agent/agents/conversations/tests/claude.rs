//! Claude Code's store: keys, latest, carry.

use std::path::Path;

use serde_json::json;

use super::*;

fn claude_session(id: &str, cwd: &str, first: &str, reply: &str) -> String {
    lines(&[
        json!({"type":"queue-operation","operation":"enqueue","sessionId":id,"content":first}),
        json!({"parentUuid":null,"type":"user","message":{"role":"user","content":first},
               "uuid":"u1","cwd":cwd,"sessionId":id,"version":"2.1.197","gitBranch":"main"}),
        json!({"parentUuid":"u1","type":"attachment","attachment":{"type":"skill_listing"},"uuid":"a1"}),
        json!({"parentUuid":"a1","type":"assistant","message":{"role":"assistant",
               "content":[{"type":"text","text":"I'll note it."}]},"uuid":"a2","sessionId":id}),
        json!({"parentUuid":"a2","type":"assistant","message":{"role":"assistant",
               "content":[{"type":"tool_use","id":"t1","name":"Write","input":{"file_path":"x"}}]},"uuid":"a3"}),
        json!({"parentUuid":"a3","type":"user","message":{"role":"user",
               "content":[{"type":"tool_result","content":"ok","tool_use_id":"t1"}]},"uuid":"u2"}),
        json!({"parentUuid":"u2","type":"assistant","message":{"role":"assistant",
               "content":[{"type":"text","text":reply}]},"uuid":"a4","sessionId":id}),
        json!({"type":"last-prompt","lastPrompt":first,"leafUuid":"a4"}),
    ])
}

#[test]
fn claude_keys_are_the_real_path_with_non_alphanumerics_as_dashes() {
    assert_eq!(
        super::super::claude::key(Path::new("/tmp/r18/A")),
        "-tmp-r18-A"
    );
    assert_eq!(
        super::super::claude::key(Path::new("/a/b_c.d/é")),
        "-a-b-c-d--"
    );
    // Over 200 characters: cut, plus a base-36 hash. The expected value was computed with
    // claude's own function (`$E` in its bundle) under node.
    let long = format!(
        "/tmp/{}/wt/é",
        "a-very-long-directory-name_with.dots".repeat(7)
    );
    let key = super::super::claude::key(Path::new(&long));
    assert_eq!(key.len(), 207);
    assert!(key.ends_with("-dir-csvx43"), "{key}");
}

#[test]
fn claude_latest_is_the_newest_file_of_the_directorys_own_key() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("A"), t.path().join("B"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let s = stores(t.path());
    let p = |d: &Path| {
        s.claude
            .join("projects")
            .join(super::super::claude::key(&real(d)))
    };
    put(
        &p(&a).join("old.jsonl"),
        &claude_session("old", "A", "OLD", "R0"),
        10,
    );
    put(
        &p(&a).join("new.jsonl"),
        &claude_session("new", "A", "FIRSTMSG", "R1"),
        20,
    );
    // Newer, but another directory's, and a subagent transcript in a subdirectory.
    put(
        &p(&b).join("b.jsonl"),
        &claude_session("b", "B", "B", "R2"),
        30,
    );
    put(
        &p(&a).join("new/subagents/x.jsonl"),
        &claude_session("x", "A", "X", "R3"),
        40,
    );
    let c = latest(Cli::Claude, &s, &a).unwrap().unwrap();
    assert_eq!(c.id.as_deref(), Some("new"));
    assert_eq!(c.first_message.as_deref(), Some("FIRSTMSG"));
    assert_eq!(c.updated, at(20));
    assert_eq!(c.dir, a);
    let old = find(Cli::Claude, &s, Some("old"), &a).unwrap().unwrap();
    assert_eq!(old.first_message.as_deref(), Some("OLD"));
    assert_eq!(find(Cli::Claude, &s, Some("b"), &a).unwrap(), None);
    assert_eq!(find(Cli::Claude, &s, Some("../B/b"), &a).unwrap(), None);
    assert_eq!(latest(Cli::Claude, &s, &t.path().join("C")).unwrap(), None);
    assert_eq!(
        summary(&c, &s).unwrap(),
        "User: FIRSTMSG\n\nAssistant: I'll note it.\n\nAssistant: R1"
    );
}

#[test]
fn claude_long_directories_are_found_by_their_key_prefix() {
    let t = tempfile::tempdir().unwrap();
    let s = stores(t.path());
    let dir = t.path().join("d".repeat(220));
    let key = super::super::claude::key(&real(&dir));
    // Whatever hash claude appended, the 200-character prefix finds it.
    let stored = format!("{}-zzz", &key[..200]);
    put(
        &s.claude.join("projects").join(stored).join("s1.jsonl"),
        &claude_session("s1", "D", "LONG", "R"),
        5,
    );
    let c = latest(Cli::Claude, &s, &dir).unwrap().unwrap();
    assert_eq!(c.id.as_deref(), Some("s1"));
}

#[test]
fn claude_carry_copies_into_the_targets_key_and_forks_leaving_the_original_alone() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("A"), t.path().join("B"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let s = stores(t.path());
    let text = claude_session("sid", "A", "FIRSTMSG", "R1");
    let orig = put(
        &s.claude
            .join("projects")
            .join(super::super::claude::key(&real(&a)))
            .join("sid.jsonl"),
        &text,
        20,
    );
    let c = latest(Cli::Claude, &s, &a).unwrap().unwrap();
    let resume = strings(&["-p", "{prompt}", "--resume", "{session_id}", "{mode}"]);
    let carried = carry(&c, &s, &b, &[], Some(&resume), &NO_TOOL).unwrap();
    let copy = s
        .claude
        .join("projects")
        .join(super::super::claude::key(&real(&b)))
        .join("sid.jsonl");
    assert_eq!(carried.made, vec![copy.clone()]);
    assert_eq!(
        carried.first_args,
        strings(&[
            "-p",
            "{prompt}",
            "--resume",
            "sid",
            "{mode}",
            "--fork-session"
        ])
    );
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), text);
    assert_eq!(std::fs::read_to_string(&orig).unwrap(), text);
    // The copy does not look newer than what the fork will write.
    assert_eq!(modified(&copy), at(20));
    // Again: the same copy is there, nothing new is made.
    let again = carry(&c, &s, &b, &[], Some(&resume), &NO_TOOL).unwrap();
    assert!(again.made.is_empty());
    // A different conversation under that name is never overwritten.
    std::fs::write(&copy, "other").unwrap();
    let err = carry(&c, &s, &b, &[], Some(&resume), &NO_TOOL).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "other");
    // No resume line: refused.
    assert!(carry(&c, &s, &b, &[], None, &NO_TOOL).is_err());
}
