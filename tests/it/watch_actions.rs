//! `git agent watch`'s keys that run whole commands: `enter` (review), `v` (verify), `m`
//! (merge) and `n` (new), driven in a pseudo-terminal as in `watch.rs`.

use crate::support::TestEnv;
use crate::support::plans::profile;
use crate::watch::{Watch, row, shows};

/// Selects session `name` by filtering for it (`/name`, enter; the input line starts with
/// the filter in use, erased first).
fn select(watch: &mut Watch, name: &str) {
    watch.keys(&format!("/{}{name}\r", "\x7f".repeat(12)));
    watch.wait_for(&format!("{name} selected"), |s| {
        s.contains(&format!("log: {name} ("))
    });
}

#[test]
fn watch_enter_reviews_the_selected_session_in_the_pager_and_comes_back() {
    let mut env = TestEnv::new();
    let marker = env.path("paged");
    let pager = format!("cat > {}", marker.display());
    env.set_env("GIT_PAGER", &pager);
    env.set_env("PAGER", &pager);
    env.spawn(
        &["--name", "other", "t"],
        "write other.txt other\ncommit other",
    );
    env.spawn(
        &["--name", "d", "t"],
        "write reviewed.txt hello\ncommit add reviewed",
    );
    env.wait_state("other", "done");
    env.wait_state("d", "done");
    let mut watch = Watch::start(&env);
    watch.wait_for("both", |s| {
        shows(s, "d", "done") && shows(s, "other", "done")
    });
    select(&mut watch, "d");
    watch.keys("\r");
    env.wait_until("the review in the pager", || {
        std::fs::read_to_string(&marker).is_ok_and(|t| t.contains("reviewed.txt"))
    });
    // Without flags, `review` asks what to do about the session; enter skips.
    watch.wait_for("review's question", |s| s.contains("What about d?"));
    watch.keys("\r");
    let paged = std::fs::read_to_string(&marker).unwrap();
    assert!(
        !paged.contains("other.txt"),
        "the selected session's diff only:\n{paged}"
    );
    let screen = watch.wait_for("watch back", |s| {
        s.contains("Reviewed d.") && shows(s, "d", "done")
    });
    assert!(screen.contains("log: d (done)"), "{screen}");
    assert!(watch.parser.lock().unwrap().screen().alternate_screen());
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}

#[test]
fn watch_verifies_with_the_configured_command_passing_and_failing() {
    let env = TestEnv::new();
    env.git(&["config", "agent.verify", "test -f ok.txt"]);
    env.spawn(&["--name", "good", "t"], "write ok.txt ok\ncommit ok");
    env.spawn(&["--name", "bad", "t"], "write ko.txt ko\ncommit ko");
    env.wait_state("good", "done");
    env.wait_state("bad", "done");
    let mut watch = Watch::start(&env);
    watch.wait_for("both", |s| {
        shows(s, "good", "done") && shows(s, "bad", "done")
    });
    let screen = watch.screen();
    assert!(
        !screen.contains("VERIFY"),
        "no column without results:\n{screen}"
    );
    select(&mut watch, "good");
    watch.keys("v");
    watch.wait_for("the pass", |s| {
        s.contains("good: verify passed") && shows(s, "good", "passed")
    });
    assert!(watch.screen().contains("VERIFY"));
    assert_eq!(env.record("good")["verify"]["passed"], true);
    select(&mut watch, "bad");
    watch.keys("v");
    watch.wait_for("the failure", |s| {
        s.contains("bad: verify FAILED") && shows(s, "bad", "failed")
    });
    assert_eq!(env.record("bad")["verify"]["passed"], false);
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}

/// A verify command from `.git-agent.toml` runs only once approved: `n` refuses with the hint
/// to `git agent trust`; `y` approves (remembered) and runs it.
#[test]
fn watch_asks_before_running_the_repositorys_verify_command() {
    let env = TestEnv::new();
    let ran = env.path("verified");
    env.write(
        ".git-agent.toml",
        &format!("verify = \"touch {}\"\n", ran.display()),
    );
    env.git(&["add", ".git-agent.toml"]);
    env.git(&["commit", "-q", "-m", "project verify"]);
    env.spawn(&["--name", "d", "t"], "write a.txt a\ncommit a");
    env.wait_state("d", "done");
    let mut watch = Watch::start(&env);
    watch.wait_for("d", |s| shows(s, "d", "done"));
    watch.keys("v");
    let screen = watch.wait_for("the question", |s| {
        s.contains("approve the verify command?")
    });
    assert!(screen.contains("touch"), "{screen}");
    watch.keys("n");
    watch.wait_for("the refusal", |s| {
        s.contains("the verify command of .git-agent.toml was not approved")
    });
    assert!(!ran.exists(), "an unapproved command never runs");
    watch.keys("v");
    watch.wait_for("the question again", |s| {
        s.contains("approve the verify command?")
    });
    watch.keys("y");
    watch.wait_for("the pass", |s| s.contains("d: verify passed"));
    assert!(ran.exists());
    // Remembered, as `git agent trust` remembers it: no question the second time.
    watch.keys("v");
    watch.wait_for("a second pass", |s| {
        s.contains("d: verify passed") && !s.contains("approve the verify command?")
    });
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}

#[test]
fn watch_merges_after_the_dry_run_and_a_yes_and_shows_a_refusal() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "good", "t"],
        "write good.txt good\ncommit add good",
    );
    env.spawn(
        &["--name", "clash", "t"],
        "write clash.txt agent\ncommit add clash",
    );
    env.wait_state("good", "done");
    env.wait_state("clash", "done");
    // The target moves under the clashing session: the same file, another content.
    env.write("clash.txt", "main\n");
    env.git(&["add", "clash.txt"]);
    env.git(&["commit", "-q", "-m", "clash on main"]);
    let main_before = env.git(&["rev-parse", "main"]);
    let mut watch = Watch::start(&env);
    watch.wait_for("both", |s| {
        shows(s, "good", "done") && shows(s, "clash", "done")
    });
    select(&mut watch, "good");

    // `n`: nothing happens.
    watch.keys("m");
    let screen = watch.wait_for("the dry run", |s| s.contains("merge good?"));
    assert!(screen.contains("Would merge good into main"), "{screen}");
    assert!(screen.contains("add good"), "{screen}");
    watch.keys("n");
    watch.wait_for("kept", |s| s.contains("good not merged."));
    assert_eq!(env.git(&["rev-parse", "main"]), main_before);
    assert!(env.has_record("good"));

    // `y`: merged, as `git agent merge good` merges it.
    watch.keys("m");
    watch.wait_for("the dry run again", |s| s.contains("merge good?"));
    watch.keys("y");
    watch.wait_for("merged", |s| s.contains("Merged good into main"));
    assert_ne!(env.git(&["rev-parse", "main"]), main_before);
    assert!(
        env.git(&["ls-tree", "--name-only", "main"])
            .contains("good.txt")
    );

    // A conflicting one: the refusal, its conflicts listed; nothing merged.
    select(&mut watch, "clash");
    let main_before = env.git(&["rev-parse", "main"]);
    watch.keys("m");
    let screen = watch.wait_for("the refusal", |s| s.contains("cannot merge clash"));
    assert!(screen.contains("clash.txt"), "{screen}");
    assert!(screen.contains("Nothing merged"), "{screen}");
    watch.keys(" ");
    watch.wait_for("closed", |s| !s.contains("cannot merge clash"));
    assert_eq!(env.git(&["rev-parse", "main"]), main_before);
    assert!(env.has_record("clash"));
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}

#[test]
fn watch_starts_a_new_session_with_the_default_profile_and_selects_it() {
    let env = TestEnv::new();
    profile(&env, "t", "print hello from the new one");
    env.git(&["config", "agent.default", "t"]);
    env.spawn(&["--name", "first", "t"], "print first");
    env.wait_state("first", "done");
    let mut watch = Watch::start(&env);
    watch.wait_for("first", |s| shows(s, "first", "done"));
    watch.keys("n");
    watch.wait_for("the input line", |s| s.contains("new task:"));
    watch.keys("fix the lexer\r");
    let screen = watch.wait_for("the new session", |s| {
        s.contains("Started fix-lexer") && s.contains("log: fix-lexer (")
    });
    assert!(row(&screen, "fix-lexer").is_some(), "{screen}");
    env.wait_state("fix-lexer", "done");
    watch.wait_for("its log", |s| s.contains("hello from the new one"));
    let prompt = env.record("fix-lexer");
    assert_eq!(prompt["agent"]["profile"], "t", "{prompt}");
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}
