//! `git agent watch` and the terminal it runs on: a resize redraws at the new size, 80×24
//! shows everything it must, `NO_COLOR` paints nothing, and a panic gives the terminal back
//! before its message is printed.

use crate::support::TestEnv;
use crate::watch::{Watch, assert_given_back, row, shows};

/// The state cell of session `name` on the screen: its foreground colour.
fn state_color(watch: &Watch, name: &str) -> vt100::Color {
    let parser = watch.parser.lock().unwrap();
    let screen = parser.screen();
    let (rows, cols) = screen.size();
    let (rows, cols) = (rows.get(), cols.get());
    for r in 0..rows {
        let line: String = (0..cols)
            .filter_map(|c| screen.cell(r, c).map(|cell| cell.contents().to_owned()))
            .collect();
        if line.starts_with(&format!("{name} ")) {
            // The state is the second column: the first cell of the word after the name.
            let at = line[name.len()..].find(|c: char| c != ' ').unwrap() + name.len();
            return screen
                .cell(r, u16::try_from(at).unwrap())
                .unwrap()
                .fgcolor();
        }
    }
    panic!("no row for {name}:\n{}", screen.contents());
}

#[test]
fn watch_paints_states_in_colour_and_nothing_with_no_color() {
    let mut env = TestEnv::new();
    env.spawn(&["--name", "bad", "t"], "exit 3");
    env.wait_state("bad", "failed");
    // The tests' commands run with NO_COLOR=1; this one without it first.
    env.unset_env("NO_COLOR");
    let mut watch = Watch::start(&env);
    watch.wait_for("bad", |s| shows(s, "bad", "failed"));
    assert_ne!(
        state_color(&watch, "bad"),
        vt100::Color::Default,
        "failed is red"
    );
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);

    env.set_env("NO_COLOR", "1");
    let mut watch = Watch::start(&env);
    watch.wait_for("bad", |s| shows(s, "bad", "failed"));
    assert_eq!(state_color(&watch, "bad"), vt100::Color::Default);
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}

#[test]
fn watch_redraws_at_the_new_size_when_the_terminal_is_resized() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "d", "t"],
        "write src/lexer.rs one\ncommit add lexer",
    );
    env.wait_state("d", "done");
    let mut watch = Watch::start(&env);
    let screen = watch.wait_for("d at 80 columns", |s| shows(s, "d", "done"));
    // 80 columns: the diff stat is only summed up; the footer takes two lines.
    assert!(!screen.contains("│ changes"), "{screen}");
    watch.resize(40, 140);
    let screen = watch.wait_for("the wide layout", |s| s.contains("│ changes"));
    assert!(screen.contains("src/lexer.rs"), "{screen}");
    assert!(row(&screen, "d").is_some(), "{screen}");
    let footer = screen.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(
        footer.contains("q quit") && footer.contains("j/k move"),
        "{screen}"
    );
    watch.resize(24, 80);
    watch.wait_for("back to 80 columns", |s| {
        !s.contains("│ changes") && shows(s, "d", "done")
    });
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}

/// A panic (here forced at the first key) gives the terminal back before its message, which
/// the user then reads on the normal screen.
#[test]
fn a_panic_in_watch_gives_the_terminal_back() {
    let mut env = TestEnv::new();
    env.set_env("GIT_AGENT_PANIC_AT", "watch:key");
    env.spawn(&["--name", "d", "t"], "print finished");
    let mut watch = Watch::start(&env);
    watch.wait_for("d", |s| row(s, "d").is_some());
    watch.keys("j");
    assert_eq!(watch.exit_code(), 101, "a panic's exit code");
    assert_given_back(&env, &watch);
    let screen = watch.screen();
    assert!(
        screen.contains("a test asked for a panic at watch:key"),
        "the message is readable on the normal screen:\n{screen}"
    );
}

/// Ctrl-C in review's pager is the review's: watch, which lent it the terminal, stays, and
/// comes back after.
#[test]
fn ctrl_c_in_the_review_pager_does_not_end_watch() {
    let mut env = TestEnv::new();
    let marker = env.path("paging");
    let pager = format!("touch {}; sleep 30", marker.display());
    env.set_env("GIT_PAGER", &pager);
    env.set_env("PAGER", &pager);
    env.spawn(&["--name", "d", "t"], "write a.txt a\ncommit add a");
    env.wait_state("d", "done");
    let mut watch = Watch::start(&env);
    watch.wait_for("d", |s| shows(s, "d", "done"));
    watch.keys("\r");
    env.wait_until("the pager", || marker.exists());
    watch.keys("\x03");
    watch.wait_for("review's end said", |s| {
        s.contains("Press enter to go back")
    });
    watch.keys("\r");
    watch.wait_for("watch back", |s| {
        shows(s, "d", "done") && s.contains("error: git agent review d")
    });
    watch.keys("j");
    watch.wait_for("still answering keys", |s| s.contains("log: d (done)"));
    watch.keys("q");
    // git, which dispatched `git agent watch`, got the SIGINT too: it waits for watch, then
    // ends as the signal says; watch itself ended on `q`.
    watch.exit_code();
}
