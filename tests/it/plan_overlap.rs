//! Live ownership (issue 15): while a plan's tasks run, an agent that edits a path owned by
//! another running task, or outside its own `touches`, raises an `overlap` event while it
//! still runs, shown in `events`, `plan status` (table and `--json`) and `list`, once per
//! path. A task without `touches` has no outside; a session in no plan is never looked at.

use serde_json::Value;

use crate::support::TestEnv;
use crate::support::plans::profile;

const PLAN: &str = r#"name = "own"
base = "main"

[[task]]
id = "a"
agent = "a"
prompt = "Build a"
touches = ["src/a/**"]

[[task]]
id = "b"
agent = "b"
prompt = "Build b"
touches = ["src/b/**"]

[[task]]
id = "c"
agent = "c"
prompt = "Build c"
touches = ["src/c/**"]

[[task]]
id = "free"
agent = "free"
prompt = "Anything goes"
"#;

/// The `overlap` events, as `(session, detail)`.
fn overlap_events(env: &TestEnv) -> Vec<(String, String)> {
    env.agent(&["events", "--json"])
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "overlap")
        .map(|e| {
            (
                e["session"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn task_overlaps(env: &TestEnv, id: &str) -> Vec<(String, Value)> {
    let doc = env.agent(&["plan", "status", "own", "--json"]).ok().json();
    let task = doc["plan"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap()
        .clone();
    let mut found: Vec<(String, Value)> =
        task["overlaps"].as_array().map_or_else(Vec::new, |all| {
            all.iter()
                .map(|o| (o["path"].as_str().unwrap().to_owned(), o["owner"].clone()))
                .collect()
        });
    found.sort_by(|x, y| x.0.cmp(&y.0));
    found
}

/// Whether a line of a table flags both of a's overlaps (in the order they were found).
fn flags_a(line: &str) -> bool {
    line.contains("overlap: ")
        && line.contains("notes.txt (outside)")
        && line.contains("src/b/x.rs (b)")
}

#[test]
fn an_agent_editing_another_running_tasks_path_or_outside_its_touches_raises_an_overlap() {
    let mut env = TestEnv::new();
    // Wide enough for list's note column.
    env.set_env("COLUMNS", "200");
    env.write("plan.toml", PLAN);
    let (release_a, release_b) = (env.path("release-a"), env.path("release-b"));
    // b runs, waiting, while a edits b's file and one outside its own touches.
    profile(
        &env,
        "a",
        &format!(
            "write src/a/a.rs a\nwrite src/b/x.rs from a\nwrite notes.txt a\nwait-for {}\nprint A.",
            release_a.display()
        ),
    );
    profile(
        &env,
        "b",
        &format!(
            "wait-for {}\nwrite src/b/b.rs b\nprint B.",
            release_b.display()
        ),
    );
    // c edits outside its touches, commits at once and ends: the look after the agent
    // exits sees the commit.
    profile(
        &env,
        "c",
        "write src/c/c.rs c\nwrite docs/c.md c\ncommit c\nprint C.",
    );
    // No touches: nothing is outside; b's paths are left alone.
    profile(&env, "free", "write free.txt f\ncommit f\nprint Free.");
    // Not in a plan: never looked at, even editing what b owns.
    env.spawn(
        &["--name", "solo"],
        &format!("write src/b/solo.rs s\nwait-for {}", release_b.display()),
    );
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();

    env.wait_until("a's two overlaps", || {
        overlap_events(&env)
            .iter()
            .filter(|(s, _)| s == "own-a")
            .count()
            == 2
    });
    // Raised while a's agent still runs (it waits for release-a).
    assert_eq!(env.stored_state("own-a"), "running");
    assert!(!release_a.exists());
    let events = env.agent(&["events", "own-a"]).ok().stdout;
    assert!(
        events.contains("overlap src/b/x.rs is owned by task 'b' (running)"),
        "{events}"
    );
    assert!(
        events.contains("overlap notes.txt is outside its touches"),
        "{events}"
    );
    let table = env.agent(&["plan", "status", "own"]).ok().stdout;
    let a_line = table.lines().find(|l| l.starts_with("a ")).unwrap();
    assert!(flags_a(a_line), "{table}");
    assert_eq!(
        task_overlaps(&env, "a"),
        [
            ("notes.txt".to_owned(), Value::Null),
            ("src/b/x.rs".to_owned(), Value::from("b")),
        ]
    );
    let list = env.agent(&["list"]).ok().stdout;
    let a_row = list.lines().find(|l| l.starts_with("own-a ")).unwrap();
    assert!(flags_a(a_row), "{list}");
    assert!(
        !list
            .lines()
            .any(|l| l.starts_with("own-b ") && l.contains("overlap"))
    );
    let listed = env.agent(&["list", "--json"]).ok().json();
    let sessions = listed["sessions"].as_array().unwrap();
    let a = sessions.iter().find(|s| s["name"] == "own-a").unwrap();
    let owners: Vec<&Value> = a["overlaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["owner"])
        .collect();
    assert!(owners.contains(&&Value::from("b")), "{a}");
    assert_eq!(owners.len(), 2, "{a}");
    let b = sessions.iter().find(|s| s["name"] == "own-b").unwrap();
    assert!(b.get("overlaps").is_none(), "{b}");

    // c's commit, made and ended at once, is caught by the look after its agent exited.
    env.wait_until("c's overlap", || {
        overlap_events(&env).iter().any(|(s, _)| s == "own-c")
    });

    // Still reported once each after more looks, the end of the run and the landing.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    env.touch("release-a");
    env.touch("release-b");
    let waited = env
        .agent(&["plan", "wait", "own", "--timeout", "120s"])
        .code(0);
    assert!(waited.stdout.contains("plan own: validated"), "{waited}");
    env.wait_state("solo", "done");
    let mut all = overlap_events(&env);
    all.sort();
    assert_eq!(
        all,
        [
            (
                "own-a".to_owned(),
                "notes.txt is outside its touches".to_owned()
            ),
            (
                "own-a".to_owned(),
                "src/b/x.rs is owned by task 'b' (running)".to_owned()
            ),
            (
                "own-c".to_owned(),
                "docs/c.md is outside its touches".to_owned()
            ),
        ]
    );
    assert_eq!(task_overlaps(&env, "a").len(), 2);
    assert!(task_overlaps(&env, "free").is_empty());
    assert!(task_overlaps(&env, "b").is_empty());
    // Landed: plan status keeps the record; list no longer flags the session.
    let table = env.agent(&["plan", "status", "own"]).ok().stdout;
    assert!(table.contains("overlap: docs/c.md (outside)"), "{table}");
}
