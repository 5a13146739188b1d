//! Codex's rollouts: latest by last directory, fork.

use std::path::Path;

use serde_json::json;

use super::*;

fn rollout(
    id: &str,
    meta_cwd: &str,
    turn_cwds: &[&str],
    first: &str,
    forked_from: Option<(&str, usize)>,
) -> String {
    let mut meta = json!({"id":id,"session_id":id,"cwd":meta_cwd,"originator":"codex_exec",
                          "cli_version":"0.169.0","source":"exec"});
    if let Some((parent, lines)) = forked_from {
        meta["forked_from_id"] = json!(parent);
        meta["forked_from_ordinal_exclusive"] = json!(lines);
    }
    let mut v = vec![
        json!({"type":"session_meta","payload":meta}),
        json!({"type":"response_item","payload":{"type":"message","role":"user",
               "content":[{"type":"input_text","text":"<environment_context>\n  <cwd>x</cwd>"}]}}),
    ];
    for (i, cwd) in turn_cwds.iter().enumerate() {
        let text = if i == 0 {
            first.to_owned()
        } else {
            format!("MSG{i}")
        };
        v.push(json!({"type":"turn_context","payload":{"cwd":cwd,"approval_policy":"never"}}));
        v.push(
            json!({"type":"event_msg","payload":{"type":"item_completed","thread_id":id,
               "item":{"type":"UserMessage","content":[{"type":"text","text":text}]}}}),
        );
        v.push(json!({"type":"event_msg","payload":{"type":"item_completed","thread_id":id,
               "item":{"type":"AgentMessage","content":[{"type":"Text","text":format!("REPLY{i}")}]}}}));
    }
    lines(&v)
}

fn put_rollout(s: &Stores, day: &str, id: &str, text: &str, secs: u64) -> PathBuf {
    put(
        &s.codex
            .join("sessions")
            .join(day)
            .join(format!("rollout-2026-12-05T19-38-02-{id}.jsonl")),
        text,
        secs,
    )
}

#[test]
fn codex_latest_is_the_newest_rollout_whose_last_turn_ran_in_the_directory() {
    let t = tempfile::tempdir().unwrap();
    let s = stores(t.path());
    let (a, b) = (Path::new("/tmp/r18/A"), Path::new("/tmp/r18/B"));
    put_rollout(
        &s,
        "2026/12/04",
        "t-old",
        &rollout("t-old", "/tmp/r18/A", &["/tmp/r18/A"], "OLD", None),
        10,
    );
    put_rollout(
        &s,
        "2026/12/05",
        "t-a",
        &rollout(
            "t-a",
            "/tmp/r18/A",
            &["/tmp/r18/A", "/tmp/r18/A"],
            "FIRSTMSG",
            None,
        ),
        20,
    );
    // Started in A but last resumed in C: codex itself counts it as C's.
    put_rollout(
        &s,
        "2026/12/05",
        "t-moved",
        &rollout(
            "t-moved",
            "/tmp/r18/A",
            &["/tmp/r18/A", "/tmp/r18/C"],
            "M",
            None,
        ),
        30,
    );
    put_rollout(
        &s,
        "2026/12/05",
        "t-b",
        &rollout("t-b", "/tmp/r18/B", &["/tmp/r18/B"], "B", None),
        40,
    );
    // Not a rollout.
    put(&s.codex.join("sessions/2026/12/05/notes.jsonl"), "{}\n", 50);
    let c = latest(Cli::Codex, &s, a).unwrap().unwrap();
    assert_eq!(c.id.as_deref(), Some("t-a"));
    assert_eq!(c.first_message.as_deref(), Some("FIRSTMSG"));
    assert_eq!(
        latest(Cli::Codex, &s, b).unwrap().unwrap().id.as_deref(),
        Some("t-b")
    );
    assert_eq!(
        find(Cli::Codex, &s, Some("t-old"), a)
            .unwrap()
            .unwrap()
            .first_message
            .as_deref(),
        Some("OLD")
    );
    assert_eq!(find(Cli::Codex, &s, Some("t-moved"), a).unwrap(), None);
    assert_eq!(find(Cli::Codex, &s, Some("t-none"), a).unwrap(), None);
    assert_eq!(
        summary(&c, &s).unwrap(),
        "User: FIRSTMSG\n\nAssistant: REPLY0\n\nUser: MSG1\n\nAssistant: REPLY1"
    );
}

#[test]
fn codex_carry_forks_with_the_mode_before_the_subcommand() {
    let t = tempfile::tempdir().unwrap();
    let s = stores(t.path());
    let text = rollout("t-a", "/tmp/r18/A", &["/tmp/r18/A"], "FIRSTMSG", None);
    let orig = put_rollout(&s, "2026/12/05", "t-a", &text, 20);
    let c = latest(Cli::Codex, &s, Path::new("/tmp/r18/A"))
        .unwrap()
        .unwrap();
    // The built-in resume line.
    let resume = strings(&[
        "exec",
        "--json",
        "--skip-git-repo-check",
        "{mode}",
        "resume",
        "{session_id}",
        "{prompt}",
    ]);
    let carried = carry(
        &c,
        &s,
        Path::new("/tmp/r18/B"),
        &[],
        Some(&resume),
        &NO_TOOL,
    )
    .unwrap();
    assert_eq!(
        carried.first_args,
        strings(&[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "{mode}",
            "fork",
            "t-a",
            "{prompt}"
        ])
    );
    assert!(carried.made.is_empty());
    assert_eq!(std::fs::read_to_string(&orig).unwrap(), text);
    // The original went on after the fork (lines 5..8: MSG1, REPLY1).
    let text = rollout(
        "t-a",
        "/tmp/r18/A",
        &["/tmp/r18/A", "/tmp/r18/A"],
        "FIRSTMSG",
        None,
    );
    put_rollout(&s, "2026/12/05", "t-a", &text, 25);
    // A fork's rollout holds only what came after it, and how many of its parent's lines
    // it took (codex 0.169 writes `forked_from_ordinal_exclusive`).
    put_rollout(
        &s,
        "2026/12/05",
        "t-f",
        &rollout(
            "t-f",
            "/tmp/r18/B",
            &["/tmp/r18/B"],
            "SECONDMSG",
            Some(("t-a", 5)),
        ),
        30,
    );
    let f = latest(Cli::Codex, &s, Path::new("/tmp/r18/B"))
        .unwrap()
        .unwrap();
    assert_eq!(f.first_message.as_deref(), Some("SECONDMSG"));
    assert_eq!(
        summary(&f, &s).unwrap(),
        "User: FIRSTMSG\n\nAssistant: REPLY0\n\nUser: SECONDMSG\n\nAssistant: REPLY0"
    );
}
