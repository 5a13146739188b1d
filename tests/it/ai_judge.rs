//! `git agent review --group G --ai-judge`: another agent (the fake agent installed as codex
//! or claude) ranks the variants; the ranking shows beside the rule-based order, is recorded
//! as a run of the group's first variant, and nothing is merged.

use crate::support::TestEnv;

/// Group `g` of two claude variants, done, each with a change of its own.
fn with_group() -> TestEnv {
    let mut env = TestEnv::new();
    env.install_fake("claude");
    env.install_fake("codex");
    let script = env.script(
        "v",
        "write out-$GIT_AGENT_NAME.txt made by $GIT_AGENT_NAME\nsay done\n",
    );
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&[
        "new",
        "-n",
        "2",
        "--agent",
        "claude",
        "--name",
        "g",
        "speed it up",
    ])
    .ok();
    env.wait_state("g-1", "done");
    env.wait_state("g-2", "done");
    env
}

fn judge_says(env: &mut TestEnv, script: &str) {
    let path = env.script("judge", script);
    env.set_env("GIT_AGENT_TEST_SCRIPT", path.to_str().unwrap());
}

#[test]
fn the_judge_ranks_the_variants_beside_the_table_and_merges_nothing() {
    let mut env = with_group();
    let branches = env.git(&["for-each-ref", "--format=%(refname) %(objectname)"]);
    judge_says(
        &mut env,
        "say Ranking:\\n1. g-2: covers the edge case\\n2. g-1: no test\n",
    );
    let out = env
        .agent(&["review", "--group", "g", "--ai-judge", "--no-menu"])
        .ok();
    // The judge is another CLI than the one that wrote the code, in its read-only mode.
    let call = env
        .calls()
        .into_iter()
        .rev()
        .find(|c| c["argv"][0].as_str().unwrap().ends_with("codex"))
        .expect("codex judged");
    let argv: Vec<&str> = call["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        argv.windows(2).any(|w| w == ["--sandbox", "read-only"]),
        "{argv:?}"
    );
    let prompt = argv.last().unwrap();
    for needle in [
        "speed it up",
        "Variant g-1",
        "Variant g-2",
        "+made by g-2",
        "1. NAME: one-line reason",
    ] {
        assert!(
            prompt.contains(needle),
            "{needle} missing from the prompt:\n{prompt}"
        );
    }
    assert!(
        out.stderr
            .contains("Asking codex (read-only) to judge 2 variants"),
        "{out}"
    );
    let header = out.stdout.lines().next().unwrap();
    assert!(header.starts_with("#") && header.contains("JUDGE"), "{out}");
    let row = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.split_whitespace().nth(2) == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}: {out}"))
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Rule-based order (#) and the judge's (JUDGE) side by side.
    assert_eq!(row("g-1"), "1 2", "{out}");
    assert_eq!(row("g-2"), "2 1", "{out}");
    assert!(
        out.stdout.contains("The judge, codex (read-only), ranks them:\n  1. g-2: covers the edge case\n  2. g-1: no test"),
        "{out}"
    );
    // Recorded once, in the group's first variant; its spend counts there.
    let runs = &env.record("g-1")["review_runs"];
    assert_eq!(runs[0]["kind"], "judge");
    assert_eq!(runs[0]["reviewer"], "codex");
    assert_eq!(runs[0]["ok"], true);
    assert!(env.record("g-2").get("review_runs").is_none());
    let shown = env.agent(&["show", "g-1"]).ok();
    assert!(
        shown.stdout.contains("judge by codex (read-only)"),
        "{shown}"
    );
    // Nothing merged, nothing moved.
    assert_eq!(
        env.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        branches
    );
    // JSON carries the ranking.
    let doc = env
        .agent(&["review", "--group", "g", "--ai-judge", "--json"])
        .ok()
        .json();
    assert_eq!(doc["judge"]["ranking"][0]["name"], "g-2");
    assert_eq!(doc["judge"]["ranking"][0]["rank"], 1);
    assert_eq!(doc["judge"]["ranking"][1]["reason"], "no test");
}

#[test]
fn a_judge_that_fails_or_ranks_nothing_is_said_and_recorded() {
    let mut env = with_group();
    judge_says(&mut env, "fail the model is down\n");
    let out = env
        .agent(&["review", "--group", "g", "--ai-judge", "--no-menu"])
        .code(128);
    assert!(
        out.stderr.contains("fatal: the judge (codex) failed"),
        "{out}"
    );
    assert!(
        out.stdout.contains("g-1") && out.stdout.contains("g-2"),
        "the table still shows: {out}"
    );
    judge_says(&mut env, "say They are both fine.\n");
    let out = env
        .agent(&["review", "--group", "g", "--ai-judge", "--no-menu"])
        .code(128);
    assert!(
        out.stderr
            .contains("it answered no ranking of the variants"),
        "{out}"
    );
    assert!(out.stderr.contains("They are both fine."), "{out}");
    let runs = env.record("g-1")["review_runs"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["ok"] == false), "{runs:?}");

    // Bad input.
    let out = env
        .agent(&["review", "--group", "g", "--agent", "codex"])
        .code(2);
    assert!(
        out.stderr.contains("--agent names the judge of --ai-judge"),
        "{out}"
    );
    let out = env.agent(&["review", "g-1", "--ai-judge"]).code(2);
    assert!(
        out.stderr
            .contains("--ai-judge ranks the variants of a group"),
        "{out}"
    );
    let out = env
        .agent(&[
            "review",
            "--group",
            "g",
            "--ai-judge",
            "--agent",
            "nope",
            "--no-menu",
        ])
        .code(128);
    assert!(out.stderr.contains("nope"), "{out}");
}

#[test]
fn the_judges_spend_counts_toward_the_first_variants_budget_not_its_cost_in_the_table() {
    let mut env = TestEnv::new();
    env.install_fake("claude");
    let script = env.script("v", "say done\n");
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&[
        "new", "-n", "2", "--agent", "claude", "--budget", "0.015", "--name", "b", "go",
    ])
    .ok();
    env.wait_state("b-1", "done");
    env.wait_state("b-2", "done");
    // Claude judges claude's variants when asked to: its run costs $0.01 (the fake's cost).
    judge_says(&mut env, "say 1. b-1: fine\\n2. b-2: fine too\n");
    let judged = env
        .agent(&[
            "review",
            "--group",
            "b",
            "--ai-judge",
            "--agent",
            "claude",
            "--json",
        ])
        .ok();
    assert!(judged.stderr.contains("claude spent $0.010."), "{judged}");
    let doc = judged.json();
    let cost_of = |name: &str| {
        doc["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["cost_usd"]
            .as_f64()
            .unwrap()
    };
    assert!(
        (cost_of("b-1") - 0.01).abs() < 1e-9,
        "the judge is not the variant's cost: {doc}"
    );
    let out = env.agent(&["send", "b-1", "more"]).code(128);
    assert!(
        out.stderr.contains("'b-1' has spent its budget ($0.020"),
        "{out}"
    );
    env.agent(&["send", "b-2", "more"]).ok();
    // The send runs in the background: its agent call is counted before the judge's.
    env.wait_state("b-2", "over-budget");
    // Its budget spent, b-1 is charged no more judges: refused before anything runs.
    let calls = env.calls().len();
    let out = env
        .agent(&[
            "review",
            "--group",
            "b",
            "--ai-judge",
            "--agent",
            "claude",
            "--no-menu",
        ])
        .code(128);
    assert!(
        out.stderr.contains("and a judge's run is charged to it"),
        "{out}"
    );
    assert_eq!(env.calls().len(), calls, "no judge ran");
}

#[test]
fn on_a_terminal_the_pick_the_winner_menu_offers_the_judges_pick_first() {
    let mut env = with_group();
    judge_says(
        &mut env,
        "say 1. g-2: covers the edge case\\n2. g-1: no test\n",
    );
    let mut term = crate::watch::Watch::start_command(
        &env,
        &["agent", "review", "--group", "g", "--ai-judge"],
        30,
        120,
    );
    let screen = term.wait_for("the menu", |s| s.contains("Pick the winner"));
    let options: Vec<&str> = screen.lines().filter(|l| l.contains(" wins")).collect();
    assert!(
        options.len() == 2 && options[0].contains("g-2 wins (the judge's pick)"),
        "{screen}"
    );
    assert!(!options[1].contains("judge"), "{screen}");
    // "No winner yet" (the default) merges nothing.
    let refs = env.git(&["for-each-ref", "--format=%(refname) %(objectname)"]);
    term.keys("\x1b");
    assert_eq!(term.exit_code(), 0, "{}", term.screen());
    assert_eq!(
        env.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        refs
    );
}
