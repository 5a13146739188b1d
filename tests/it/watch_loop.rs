//! The seeds' whole loop without leaving `git agent watch`: answer the session that waits,
//! review another and send it comments (review's own menu and editor), merge it, clean up
//! what is merged; and `c` (clean) on its own: what it shows, what it keeps, that it never
//! removes more than it showed.

use crate::support::TestEnv;
use crate::watch::{Watch, row, shows};

/// Selects session `name` by filtering for it, as watch_actions does.
fn select(watch: &mut Watch, name: &str) {
    watch.keys(&format!("/{}{name}\r", "\x7f".repeat(12)));
    watch.wait_for(&format!("{name} selected"), |s| {
        s.contains(&format!("log: {name} ("))
    });
}

/// An editor that writes one comment under the first added line of the diff.
fn commenting_editor(env: &TestEnv, comment: &str) -> String {
    let editor = env.root().join("editor.sh");
    std::fs::write(
        &editor,
        format!("#!/bin/sh\nsed -i -e '0,/^+/s//>> {comment}\\n&/' \"$1\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    editor.display().to_string()
}

#[test]
fn the_whole_loop_from_inside_watch() {
    let mut env = TestEnv::new();
    let pager = "cat > /dev/null";
    env.set_env("GIT_PAGER", pager);
    env.set_env("PAGER", pager);
    let editor = commenting_editor(&env, "use a constant for the port");
    env.set_env("GIT_EDITOR", &editor);
    let gate = env.path("g-asks");
    env.spawn(
        &["--name", "asks", "t"],
        &format!(
            "notify waiting which port?\nwait-for {}\nappend port.txt set\ncommit set the port",
            gate.display()
        ),
    );
    env.spawn(
        &["--name", "feat", "t"],
        "append feat.txt more\ncommit add feat",
    );
    env.spawn(&["--name", "idle", "t"], "print nothing to do");
    for name in ["feat", "idle"] {
        env.wait_state(name, "done");
    }
    env.wait_until("asks waiting", || {
        let list = env.agent(&["list", "--json"]).ok().json();
        list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "asks" && s["state"] == "waiting")
    });
    let mut watch = Watch::start(&env);
    watch.wait_for("the three", |s| {
        shows(s, "asks", "waiting") && shows(s, "feat", "done") && shows(s, "idle", "done")
    });

    // Answer the one that waits: `w` finds it, `s` sends the answer.
    watch.keys("w");
    watch.wait_for("asks selected", |s| s.contains("log: asks (waiting)"));
    watch.keys("s");
    watch.wait_for("the input line", |s| s.contains("follow-up for asks:"));
    watch.keys("port 8080\r");
    // To a running agent the answer is queued, delivered when its run ends.
    watch.wait_for("queued", |s| s.contains("Queued for asks"));
    std::fs::write(&gate, "").unwrap();
    env.wait_until("the answer to reach asks", || {
        env.calls()
            .iter()
            .filter(|c| c["env"]["GIT_AGENT_NAME"] == "asks")
            .any(|c| c.to_string().contains("port 8080"))
    });
    env.wait_until("asks's second run", || {
        env.git(&["log", "--format=%s", "agent/asks"])
            .lines()
            .filter(|l| *l == "set the port")
            .count()
            == 2
    });
    env.wait_state("asks", "done");

    // Review feat and request changes: review's menu, the editor, the round sent.
    select(&mut watch, "feat");
    watch.keys("\r");
    watch.wait_for("review's question", |s| s.contains("What about feat?"));
    // The menu starts on "Skip"; "Request changes" is two up (above "Discard").
    watch.keys("\x1b[A\x1b[A\r");
    env.wait_until("the comments to reach feat", || {
        env.calls()
            .iter()
            .filter(|c| c["env"]["GIT_AGENT_NAME"] == "feat")
            .any(|c| c.to_string().contains("use a constant for the port"))
    });
    env.wait_until("feat's second run", || {
        env.git(&["log", "--format=%s", "agent/feat"])
            .lines()
            .filter(|l| *l == "add feat")
            .count()
            == 2
    });
    env.wait_state("feat", "done");
    watch.wait_for("back in watch", |s| {
        s.contains("Reviewed feat.") && shows(s, "feat", "done")
    });

    // Merge it: the dry run, y.
    watch.keys("m");
    watch.wait_for("the dry run", |s| s.contains("merge feat?"));
    watch.keys("y");
    watch.wait_for("merged", |s| s.contains("Merged feat into main"));
    assert!(
        env.git(&["ls-tree", "--name-only", "main"])
            .contains("feat.txt")
    );

    // The merge removed its worktree and record (its branch kept).
    assert!(!env.has_record("feat"));

    // Clean: what has nothing of its own goes; the answered one, not merged, stays (and
    // says why).
    watch.keys("\x1b");
    watch.wait_for("the filter cleared", |s| shows(s, "asks", "done"));
    watch.keys("c");
    let screen = watch.wait_for("clean's dry run", |s| s.contains("clean?"));
    assert!(screen.contains("idle (empty)"), "{screen}");
    assert!(screen.contains("asks: not merged"), "{screen}");
    watch.keys("y");
    let screen = watch.wait_for("cleaned", |s| s.contains("Removed idle"));
    assert!(row(&screen, "idle").is_none(), "{screen}");
    assert!(!env.has_record("idle"));
    assert!(env.has_record("asks"));
    assert!(
        env.git(&["branch", "--list", "agent/feat"])
            .contains("agent/feat"),
        "branches are kept"
    );
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}

/// `c`, then anything but `y`: nothing removed. And a session that comes to be removable
/// between the dry run and the `y` is not removed: only what was shown goes.
#[test]
fn watch_clean_removes_only_what_it_showed_and_only_on_yes() {
    let env = TestEnv::new();
    let gate = env.path("g-late");
    env.spawn(&["--name", "early", "t"], "print nothing");
    env.spawn(
        &["--name", "late", "t"],
        &format!("wait-for {}", gate.display()),
    );
    env.wait_state("early", "done");
    let mut watch = Watch::start(&env);
    watch.wait_for("both", |s| {
        shows(s, "early", "done") && shows(s, "late", "running")
    });
    watch.keys("c");
    let screen = watch.wait_for("clean's dry run", |s| s.contains("clean?"));
    assert!(screen.contains("early (empty)"), "{screen}");
    assert!(screen.contains("late: its agent is running"), "{screen}");
    watch.keys("n");
    watch.wait_for("kept", |s| s.contains("Nothing removed."));
    assert!(env.has_record("early"));

    watch.keys("c");
    watch.wait_for("clean's dry run again", |s| s.contains("clean?"));
    // `late` ends meanwhile: it is empty now, but it was not shown as removable.
    std::fs::write(&gate, "").unwrap();
    env.wait_state("late", "done");
    watch.keys("y");
    watch.wait_for("cleaned", |s| s.contains("Removed early"));
    assert!(!env.has_record("early"));
    assert!(env.has_record("late"), "late was not shown as removable");
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}

/// Uncommitted work in a finished session: clean keeps it and says why, in a box.
#[test]
fn watch_clean_keeps_uncommitted_work_and_says_why() {
    let env = TestEnv::new();
    env.spawn(&["--name", "d", "t"], "print finished");
    env.wait_state("d", "done");
    let worktree = env.agents_dir().join("d");
    std::fs::write(worktree.join("draft.txt"), "not committed\n").unwrap();
    let mut watch = Watch::start(&env);
    watch.wait_for("d", |s| shows(s, "d", "done"));
    watch.keys("c");
    let screen = watch.wait_for("nothing to clean", |s| s.contains("nothing to clean"));
    assert!(screen.contains("d: 1 uncommitted change(s)"), "{screen}");
    watch.keys(" ");
    watch.wait_for("closed", |s| !s.contains("nothing to clean"));
    assert!(worktree.join("draft.txt").exists());
    assert!(env.has_record("d"));
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}
