//! OpenCode: rekeying an export, its subcommands (a stand-in script), the timeout.

use std::path::Path;

use serde_json::{Value, json};

use super::*;

/// The shape of `opencode export ID` (1.18.33), trimmed.
fn opencode_export() -> Value {
    let ses = "ses_db846a317ffeW6gbOc2YWyPazB";
    let (m1, m2, m3) = (
        "msg_247b95dfc001pzViw1fYL92hT9",
        "msg_247b968610010NyGXTa22chtEM",
        "msg_247b976a0001g5YhiFuFS1xTjA",
    );
    let part = |id: &str, msg: &str, kind: &str, text: &str| json!({"type":kind,"text":text,"id":id,"sessionID":ses,"messageID":msg});
    json!({
        "info": {"id":ses,"slug":"brave-island","projectID":"134875c7d734","directory":"/tmp/r18/A",
                 "title":"Scripted session","version":"1.18.33","time":{"created":1796499660008u64,"updated":1796499667094u64}},
        "messages": [
            {"info":{"role":"user","id":m1,"sessionID":ses},
             "parts":[part("prt_247b95e14001Vz0Kc39KDA9uZP", m1, "text", "FIRSTMSG opencode")]},
            {"info":{"parentID":m1,"role":"assistant","id":m2,"sessionID":ses,"path":{"cwd":"/tmp/r18/A"}},
             "parts":[part("prt_247b974d60014w6gi6Sk0AuCm0", m2, "step-start", ""),
                      part("prt_247b974db0010wvnMFHVtP26op", m2, "text", "I'll note it."),
                      json!({"type":"tool","tool":"write","callID":"call_85c6","id":"prt_247b975000014w6gi6Sk0AuCm1",
                             "sessionID":ses,"messageID":m2,"state":{"status":"completed","output":"Wrote file successfully."}})]},
            {"info":{"parentID":m1,"role":"assistant","id":m3,"sessionID":ses},
             "parts":[part("prt_247b97803001wzMLY5XGDZ8o5A", m3, "text", "REPLY-ONE-BANANA")]},
        ]
    })
}

/// Every id (`ses_`/`msg_`/`prt_`) of an export, in document order.
fn ids_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if ["ses_", "msg_", "prt_"].iter().any(|p| s.starts_with(p)) => {
            out.push(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| ids_of(x, out)),
        Value::Object(o) => o.values().for_each(|x| ids_of(x, out)),
        _ => {}
    }
}

#[test]
fn opencode_rekey_gives_fresh_distinct_ids_keeping_their_time_and_references() {
    let orig = opencode_export();
    let mut data = orig.clone();
    let new = super::super::opencode::rekey(&mut data, &mut super::super::opencode::random_chars)
        .unwrap();
    let (mut before, mut after) = (Vec::new(), Vec::new());
    ids_of(&orig, &mut before);
    ids_of(&data, &mut after);
    assert_eq!(before.len(), after.len());
    assert_eq!(new, data["info"]["id"].as_str().unwrap());
    assert_ne!(new, orig["info"]["id"].as_str().unwrap());
    for (old, fresh) in before.iter().zip(&after) {
        assert_ne!(old, fresh, "every id changes");
        assert_eq!(old.len(), fresh.len());
        // Same prefix and 12-hex time part: the order of messages and parts is kept.
        assert_eq!(old[..16], fresh[..16]);
        assert!(!after.contains(old), "{old} survived");
    }
    // The same old id always maps to the same new one (references stay references), and
    // distinct ids stay distinct.
    let mut pairs: Vec<_> = before.iter().zip(&after).collect();
    pairs.sort();
    pairs.dedup();
    let distinct_old: std::collections::HashSet<_> = before.iter().collect();
    let distinct_new: std::collections::HashSet<_> = after.iter().collect();
    assert_eq!(pairs.len(), distinct_old.len());
    assert_eq!(distinct_new.len(), distinct_old.len());
    assert_eq!(
        data["messages"][1]["info"]["parentID"],
        data["messages"][0]["info"]["id"]
    );
    assert_eq!(
        data["messages"][1]["parts"][2]["messageID"],
        data["messages"][1]["info"]["id"]
    );
    // Nothing else changed.
    assert_eq!(
        data["messages"][1]["parts"][2]["state"],
        orig["messages"][1]["parts"][2]["state"]
    );
    assert_eq!(data["info"]["directory"], "/tmp/r18/A");
    // Two rekeys of one export differ.
    let mut again = orig.clone();
    assert_ne!(
        super::super::opencode::rekey(&mut again, &mut super::super::opencode::random_chars)
            .unwrap(),
        new
    );
    // An export without a session id is refused.
    assert!(
        super::super::opencode::rekey(
            &mut json!({"messages": []}),
            &mut super::super::opencode::random_chars
        )
        .is_err()
    );
}

#[test]
fn opencode_export_text_is_the_user_and_assistant_text_parts() {
    let turns = super::super::opencode::export_turns(&opencode_export());
    assert_eq!(
        render(&turns),
        "User: FIRSTMSG opencode\n\nAssistant: I'll note it.\n\nAssistant: REPLY-ONE-BANANA"
    );
}

/// A stand-in `opencode` (a shell script): `session list` prints `list.json`, `export`
/// prints `export.json` (checking it runs in the session's directory), `import FILE` copies
/// FILE to `imported.json` and records its directory.
fn fake_opencode(t: &Path, list: &Value) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(t.join("list.json"), list.to_string()).unwrap();
    std::fs::write(t.join("export.json"), opencode_export().to_string()).unwrap();
    let d = t.display();
    let script = format!(
        "#!/bin/sh\nset -e\necho \"$PWD $*\" >> {d}/calls\ncase \"$1\" in\n\
         session) cat {d}/list.json ;;\n\
         export) echo 'Exporting session' >&2; test \"$PWD\" = {d}/A || exit 3; cat {d}/export.json ;;\n\
         import) cp \"$2\" {d}/imported.json; echo \"Imported session\" ;;\n\
         *) exit 9 ;;\nesac\n"
    );
    let program = t.join("opencode");
    std::fs::write(&program, script).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    program
}

#[test]
fn opencode_latest_lists_sessions_and_carry_imports_fresh_ids_in_the_target() {
    let t = tempfile::tempdir().unwrap();
    let (a, to) = (t.path().join("A"), t.path().join("B"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&to).unwrap();
    let list = json!([
        {"id":"ses_b","title":"t","updated":1796499881576u64,"created":1,"projectId":"p","directory":to},
        {"id":"ses_a2","title":"t","updated":1796499861153u64,"created":1,"projectId":"p","directory":a},
        {"id":"ses_a1","title":"t","updated":1796499845008u64,"created":1,"projectId":"p","directory":a},
    ]);
    let program = fake_opencode(t.path(), &list);
    let program = program.to_string_lossy().into_owned();
    let env = vec![("OPENCODE_DISABLE_SHARE".to_owned(), "1".to_owned())];
    let s = stores(t.path()).with_opencode(&program, &env);
    let a = a.as_path();
    let c = latest(Cli::Opencode, &s, a).unwrap().unwrap();
    assert_eq!(c.id.as_deref(), Some("ses_a2"));
    assert_eq!(
        c.updated,
        SystemTime::UNIX_EPOCH + Duration::from_millis(1796499861153)
    );
    assert_eq!(
        find(Cli::Opencode, &s, Some("ses_a1"), a)
            .unwrap()
            .unwrap()
            .id
            .as_deref(),
        Some("ses_a1")
    );
    assert_eq!(find(Cli::Opencode, &s, Some("ses_b"), a).unwrap(), None);

    let resume = strings(&[
        "run",
        "--format",
        "json",
        "{mode}",
        "--session",
        "{session_id}",
    ]);
    let tool = Tool {
        program: &program,
        env: &env,
    };
    let carried = carry(&c, &s, &to, &[], Some(&resume), &tool).unwrap();
    let imported: Value =
        serde_json::from_str(&std::fs::read_to_string(t.path().join("imported.json")).unwrap())
            .unwrap();
    let new = imported["info"]["id"].as_str().unwrap();
    assert_ne!(new, "ses_db846a317ffeW6gbOc2YWyPazB");
    assert_eq!(
        carried.first_args,
        strings(&["run", "--format", "json", "{mode}", "--session", new])
    );
    let calls = std::fs::read_to_string(t.path().join("calls")).unwrap();
    assert!(
        calls.contains(&format!("{} import ", to.display())),
        "{calls}"
    );
    assert!(
        calls.contains(&format!("{} export ses_a2", a.display())),
        "{calls}"
    );
    assert_eq!(
        summary(&c, &s).unwrap(),
        "User: FIRSTMSG opencode\n\nAssistant: I'll note it.\n\nAssistant: REPLY-ONE-BANANA"
    );
}

#[test]
fn a_tool_that_does_not_finish_is_killed() {
    let started = std::time::Instant::now();
    let err = run_bounded(&Cmd::new("sleep").arg("30"), Duration::from_millis(300)).unwrap_err();
    assert!(err.to_string().contains("did not finish"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = run_bounded(
        &Cmd::new("sh").args(["-c", "echo oops >&2; exit 4"]),
        Duration::from_secs(30),
    )
    .unwrap_err();
    assert!(err.to_string().contains("oops"), "{err}");
}
