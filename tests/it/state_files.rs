//! The state in `.git/agent/`: records, events, quarantine, auto-commit, lock-free reads.

use crate::support::TestEnv;

#[test]
fn damaged_records_are_quarantined_and_the_rest_keep_working() {
    let env = TestEnv::new();
    env.spawn(&["--name", "good", "t"], "print x");
    env.spawn(&["--name", "bad", "t"], "print x");
    env.agent(&["wait", "--all"]).ok();
    let bad = env.state_dir().join("sessions/bad.json");
    std::fs::write(&bad, "{\"version\": 1, \"name\": \"bad\", trunc").unwrap();
    let list = env.agent(&["list"]).ok();
    assert!(list.stdout.lines().any(|l| l.starts_with("good")), "{list}");
    assert!(
        list.stderr
            .contains("warning: session record 'bad' is damaged"),
        "{list}"
    );
    assert!(!bad.exists());
    let quarantined: Vec<_> = std::fs::read_dir(env.state_dir().join("quarantine"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(quarantined.len(), 1);
    let again = env.agent(&["list"]).ok();
    assert_eq!(again.stderr, "", "reported once");

    // A record from a newer git-agent is reported and left alone.
    let future = env.state_dir().join("sessions/future.json");
    std::fs::write(&future, "{\"version\": 99, \"name\": \"future\"}").unwrap();
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stderr.contains("written by a newer git-agent"),
        "{list}"
    );
    assert!(future.exists());
    env.agent(&["show", "future"]).code(128);
}

#[test]
fn events_are_appended() {
    let env = TestEnv::new();
    env.spawn(&["--name", "ev", "t"], "write f.txt x");
    env.wait_state("ev", "done");
    let text = std::fs::read_to_string(env.state_dir().join("events.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{}{}",
                e["event"].as_str().unwrap(),
                e["state"]
                    .as_str()
                    .map(|s| format!(":{s}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        ["created", "state:running", "committed", "state:done"]
    );
    assert!(
        events
            .iter()
            .all(|e| e["session"] == "ev" && e["version"] == 1)
    );
}

#[test]
fn leftovers_are_committed_on_the_branch() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "left", "Add the widget\nwith details"],
        "write own.txt mine\ncommit agent's own commit\nwrite new.txt fresh\nappend README.md more",
    );
    env.wait_state("left", "done");
    let wt = env.agents_dir().join("left");
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    let log = env.git(&["log", "--format=%s", "main..agent/left"]);
    assert_eq!(log, "agent left: Add the widget\nagent's own commit\n");
    let body = env.git(&["log", "-1", "--format=%B", "agent/left"]);
    assert!(
        body.contains("Git-Agent-Session: left\nGit-Agent-Profile: command"),
        "{body}"
    );
    let trailers = env.git(&[
        "log",
        "-1",
        "--format=%(trailers:key=Git-Agent-Session,valueonly)",
        "agent/left",
    ]);
    assert_eq!(trailers.trim(), "left");
    assert_eq!(
        env.record("left")["commit"]["sha"],
        env.git(&["rev-parse", "agent/left"]).trim()
    );
    // The main checkout is untouched.
    assert_eq!(env.git(&["status", "--porcelain"]), "");
    assert_eq!(env.git(&["log", "--oneline"]).lines().count(), 1);

    // A failed agent's work is kept too.
    env.spawn(&["--name", "failing", "t"], "write half.txt done\nexit 1");
    env.wait_state("failing", "failed");
    let body = env.git(&["log", "-1", "--format=%B", "agent/failing"]);
    assert!(
        body.contains("The agent (fake-agent) failed (exit 1)"),
        "{body}"
    );
}

#[test]
fn auto_commit_can_be_off_and_hooks_can_refuse() {
    let env = TestEnv::new();
    env.spawn(&["--name", "off", "--no-auto-commit", "t"], "write a.txt x");
    env.wait_state("off", "done");
    assert_eq!(env.record("off")["commit"]["status"], "disabled");
    assert!(
        env.git_in(&env.agents_dir().join("off"), &["status", "--porcelain"])
            .contains("?? a.txt")
    );

    let hook = env.repo.join(".git/hooks/pre-commit");
    std::fs::write(&hook, "#!/bin/sh\necho 'lint failed: tabs' >&2\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.spawn(&["--name", "refused", "t"], "write b.txt y");
    env.wait_state("refused", "done");
    let commit = &env.record("refused")["commit"];
    assert_eq!(commit["status"], "failed");
    assert!(
        commit["error"]
            .as_str()
            .unwrap()
            .contains("lint failed: tabs"),
        "{commit}"
    );
    let status = env.git_in(
        &env.agents_dir().join("refused"),
        &["status", "--porcelain"],
    );
    assert_eq!(status, "A  b.txt\n", "the changes stay in the worktree");
    let show = env.agent(&["show", "refused"]).ok();
    assert!(
        show.stdout
            .contains("commit failed, changes left in the worktree: lint failed: tabs"),
        "{show}"
    );
}

#[test]
fn reads_never_write_the_index() {
    let env = TestEnv::new();
    env.spawn(&["--name", "r", "t"], "print x");
    env.wait_state("r", "done");
    let wt = env.agents_dir().join("r");
    // Make the index's stat information stale, then list: git status would normally refresh
    // (rewrite) the index; with --no-optional-locks it must not.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(wt.join("README.md"), "hello\n").unwrap();
    let index = env.repo.join(".git/worktrees/r/index");
    let before = std::fs::metadata(&index).unwrap().modified().unwrap();
    // Someone else holds the index lock: reads must still work.
    let lock = env.repo.join(".git/worktrees/r/index.lock");
    std::fs::write(&lock, "").unwrap();
    env.agent(&["list"]).ok();
    env.agent(&["show", "r"]).ok();
    std::fs::remove_file(&lock).unwrap();
    assert_eq!(
        std::fs::metadata(&index).unwrap().modified().unwrap(),
        before
    );
}

#[test]
fn list_json_schema_snapshot() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "snap", "--timeout", "1h", "write the snapshot"],
        "write snap.txt a\\nb",
    );
    env.wait_state("snap", "done");
    let out = env.agent(&["list", "--json"]).ok();
    insta::assert_snapshot!(crate::support::normalize(&env, &out.stdout));
}

/// Every `--json` output of the suite in one scenario, normalized (paths, ids, times,
/// durations): the schema in `man/json.md` is what this pins down.
#[test]
fn json_outputs_snapshot() {
    let env = TestEnv::new();
    env.git(&["config", "agent.verify", "true"]);
    let fake = env.fake("j", "write j.txt j\ncommit add j");
    let mut args = vec!["new", "--name", "j", "--json", "t"];
    args.extend(fake.iter().map(String::as_str));
    let new = env.agent(&args).ok();
    let wait = env.agent(&["wait", "j", "--json"]).ok();
    env.spawn(&["--name", "k", "t"], "write k.txt k\ncommit add k");
    env.wait_state("k", "done");
    let mut outputs = vec![("new --json", new.stdout), ("wait j --json", wait.stdout)];
    for args in [
        vec!["show", "j", "--json"],
        vec!["profiles", "--json"],
        vec!["config", "--json"],
        vec!["review", "j", "--verify", "--json"],
        vec!["conflicts", "--json"],
        vec!["merge", "j", "--dry-run", "--json"],
        vec!["rm", "k", "--dry-run", "--json"],
        vec!["clean", "--dry-run", "--json"],
        vec!["doctor", "--json"],
        vec!["merge", "j", "--json"],
        vec!["events", "j", "--json"],
        vec!["list", "--all", "--json"],
    ] {
        let out = env.agent(&args);
        assert!(out.code == 0 || out.code == 1, "{args:?}: {out}");
        outputs.push((Box::leak(args.join(" ").into_boxed_str()), out.stdout));
    }
    let mut all = String::new();
    for (what, text) in outputs {
        all.push_str(&format!(
            "### git agent {what}\n{}\n",
            mask_varying(&crate::support::normalize(&env, &text))
        ));
    }
    insta::assert_snapshot!(all);
}

/// Timestamps (`2026-11-21T04:02:26.51Z`) anywhere, as `[time]`; pids after `pid `.
fn mask_times(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let shape = b"dddd-dd-ddTdd:dd:dd";
        let is_time = b.len() >= i + shape.len()
            && shape.iter().zip(&b[i..]).all(|(s, c)| match s {
                b'd' => c.is_ascii_digit(),
                s => s == c,
            });
        if is_time {
            let mut j = i + shape.len();
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                j += 1;
            }
            if j < b.len() && b[j] == b'Z' {
                j += 1;
            }
            out.push_str("[time]");
            i = j;
            continue;
        }
        if text[i..].starts_with("pid ") {
            let j = i + 4 + b[i + 4..].iter().take_while(|c| c.is_ascii_digit()).count();
            if j > i + 4 {
                out.push_str("pid [pid]");
                i = j;
                continue;
            }
        }
        let ch = text[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Values that differ from run to run (durations, ages, pids, costs of time).
fn mask_varying(text: &str) -> String {
    let text = mask_times(text);
    let text = text.as_str();
    let keys = [
        "\"duration_ms\": ",
        "\"ran_secs\": ",
        "\"age_secs\": ",
        "\"log_offset\": ",
        "\"program\": ",
        "\"installed\": ",
        "\"found\": ",
        "\"path\": \"/",
    ];
    text.lines()
        .map(
            |line| match keys.iter().find_map(|k| line.find(k).map(|p| (p, k.len()))) {
                Some((pos, len)) => {
                    let comma = if line.trim_end().ends_with(',') {
                        ","
                    } else {
                        ""
                    };
                    format!("{}[masked]{comma}", &line[..pos + len])
                }
                None => line.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn list_shows_what_runs_left_and_full_looks_now() {
    let env = TestEnv::new();
    env.spawn(&["--name", "s", "t"], "write a.txt a\ncommit a");
    env.wait_state("s", "done");
    let line = |out: &crate::support::Out| {
        out.stdout
            .lines()
            .find(|l| l.starts_with("s "))
            .unwrap()
            .to_owned()
    };
    let list = env.agent(&["list"]).ok();
    assert!(line(&list).contains("1 file +1 -0"), "{list}");
    assert!(!list.stderr.contains("moved since"), "{list}");
    // Work added by hand: plain list says its numbers are older, --full measures.
    let wt = env.agents_dir().join("s");
    std::fs::write(wt.join("b.txt"), "b\n").unwrap();
    env.git_in(&wt, &["add", "b.txt"]);
    env.git_in(&wt, &["commit", "-qm", "b"]);
    std::fs::write(wt.join("c.txt"), "c\n").unwrap();
    let list = env.agent(&["list"]).ok();
    assert!(line(&list).contains("1 file +1 -0*"), "{list}");
    assert!(list.stderr.contains("the branch moved since"), "{list}");
    let full = env.agent(&["list", "--full"]).ok();
    assert!(
        line(&full).contains("2 files +2 -0, 1 uncommitted"),
        "{full}"
    );
    assert!(
        full.stdout.contains("VS TARGET") && line(&full).contains("↑2 ↓0"),
        "{full}"
    );
    // A second --full answers the commit-only parts from the cache, the same (but for its
    // AGE, which may have ticked).
    let again = env.agent(&["list", "--full"]).ok();
    let without_age = |l: String| {
        let mut words: Vec<&str> = l.split_whitespace().collect();
        words.remove(3);
        words.join(" ")
    };
    assert_eq!(without_age(line(&again)), without_age(line(&full)));
    assert!(env.state_dir().join("cache/commits.json").exists());
    let json = env.agent(&["list", "--json"]).ok().json();
    assert_eq!(json["sessions"][0]["changes"]["stale"], true);
}
