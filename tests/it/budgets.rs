//! Budgets that hold on tokens (issue 14): codex and gemini report tokens but no cost, so
//! their spend is estimated from `agents/pricing.rs` prices (or `agent.price.<model>.*`)
//! and the run is stopped `over-budget` on crossing; a model with no price stops the run
//! instead of running unbudgeted; bad prices are refused naming their key.

use crate::support::TestEnv;

/// A repository with the fake agent installed as `cli`, following `script`.
fn env_with(cli: &str, script: &str) -> TestEnv {
    let env = TestEnv::new();
    env.install_fake(cli);
    let script = env.script("spend", script);
    let mut env = env;
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env
}

fn committed(env: &TestEnv, name: &str) -> String {
    env.git(&["ls-tree", "--name-only", &format!("agent/{name}")])
}

#[test]
fn codex_crossing_its_budget_on_estimated_tokens_is_stopped_with_its_work_committed() {
    // gpt-5.5 at $5 in, $30 out: each report below costs $0.08.
    let env = env_with(
        "codex",
        "write part.txt half done\ntokens - 10000 1000\nsleep 0.3\ntokens - 10000 1000\n\
         sleep 30\nwrite never.txt x",
    );
    env.git(&["config", "--add", "agent.profile.codex.arg", "-m"]);
    env.git(&["config", "--add", "agent.profile.codex.arg", "gpt-5.5"]);
    env.agent(&[
        "new", "--agent", "codex", "--name", "c", "--budget", "0.10", "t",
    ])
    .ok();
    let r = env.wait_state("c", "over-budget");
    assert_eq!(
        r["reason"], "over budget: spent ~$0.160 (estimated) of $0.100",
        "{r:#}"
    );
    let outcome = &r["runs"][0]["outcome"];
    assert_eq!(outcome["model"], "gpt-5.5", "{outcome:#}");
    assert_eq!(outcome["usage"]["cost_estimated"], true, "{outcome:#}");
    assert_eq!(outcome["usage"]["input_tokens"], 20000, "{outcome:#}");
    let files = committed(&env, "c");
    assert!(
        files.contains("part.txt") && !files.contains("never.txt"),
        "{files}"
    );
    let list = env.agent(&["list"]).ok();
    assert!(list.stdout.contains("~$0.160 (estimated)"), "{list}");
    let show = env.agent(&["show", "c"]).ok();
    assert!(show.stdout.contains("~$0.160 (estimated)"), "{show}");
}

#[test]
fn gemini_whose_last_report_crosses_its_budget_ends_over_budget_at_a_configured_price() {
    // Gemini reports its tokens once, as it ends; its model is priced in git config.
    let env = env_with(
        "gemini",
        "write part.txt all done\ntokens gemini-3.8-flash 20000 2000",
    );
    env.git(&["config", "agent.price.gemini-3.8-flash.input", "1"]);
    env.git(&["config", "agent.price.gemini-3.8-flash.output", "$10"]);
    env.agent(&[
        "new", "--agent", "gemini", "--name", "g", "--budget", "0.03", "t",
    ])
    .ok();
    let r = env.wait_state("g", "over-budget");
    assert_eq!(
        r["reason"], "over budget: spent ~$0.040 (estimated) of $0.030",
        "{r:#}"
    );
    assert_eq!(
        r["runs"][0]["outcome"]["model"], "gemini-3.8-flash",
        "{r:#}"
    );
    assert!(committed(&env, "g").contains("part.txt"));
    // Under its budget the same run is simply done, its spend still estimated.
    env.agent(&[
        "new", "--agent", "gemini", "--name", "h", "--budget", "1", "t",
    ])
    .ok();
    let r = env.wait_state("h", "done");
    assert_eq!(r["runs"][0]["outcome"]["usage"]["cost_estimated"], true);
}

#[test]
fn a_model_with_no_price_stops_the_run_instead_of_running_unbudgeted() {
    let env = env_with(
        "gemini",
        "write part.txt x\ntokens gemini-9-ultra 100 10\nsleep 30\nwrite never.txt x",
    );
    env.agent(&[
        "new", "--agent", "gemini", "--name", "u", "--budget", "1", "t",
    ])
    .ok();
    let r = env.wait_state("u", "failed");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("the budget of $1.00 cannot be held")
            && reason.contains("'gemini-9-ultra', which has no known price")
            && reason.contains("agent.price.gemini-9-ultra.input"),
        "{reason}"
    );
    assert!(!committed(&env, "u").contains("never.txt"));
    // Codex names no model in its stream: without -m or its config.toml, nothing to price.
    let env = env_with("codex", "tokens - 100 10\nsleep 30");
    env.agent(&[
        "new", "--agent", "codex", "--name", "x", "--budget", "1", "t",
    ])
    .ok();
    let r = env.wait_state("x", "failed");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("codex does not say which model it runs"),
        "{r:#}"
    );
    // Its config.toml names it.
    let home = std::path::PathBuf::from(env.env_value("HOME"));
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    std::fs::write(home.join(".codex/config.toml"), "model = \"gpt-5\"\n").unwrap();
    env.agent(&[
        "new", "--agent", "codex", "--name", "y", "--budget", "1", "t",
    ])
    .ok();
    env.wait_until("y runs with its model priced", || {
        env.record("y")["runs"][0]["outcome"]["usage"]["cost_estimated"] == true
    });
    assert_eq!(env.record("y")["runs"][0]["outcome"]["model"], "gpt-5");
    env.agent(&["stop", "y"]).ok();
}

#[test]
fn prices_that_are_bad_or_unknown_are_refused_at_new() {
    let env = env_with("codex", "say hi");
    let new = |extra: &[&str]| {
        let mut args = vec!["new", "--agent", "codex", "--name", "p", "--budget", "1"];
        args.extend_from_slice(extra);
        args.push("t");
        env.agent(&args)
    };
    for (key, value, why) in [
        (
            "agent.price.gpt-5.5.input",
            "cheap",
            "it must be US dollars per million tokens",
        ),
        (
            "agent.price.gpt-5.5.cached",
            "-1",
            "a price cannot be negative",
        ),
    ] {
        env.git(&["config", key, value]);
        let out = new(&[]).code(128);
        assert!(
            out.stderr.contains(&format!(
                "fatal: bad config value '{value}' for '{key}': {why}"
            )),
            "{out}"
        );
        env.git(&["config", "--unset", key]);
    }
    // A model outside the table needs both its prices.
    env.git(&["config", "agent.price.my-model.input", "2"]);
    let out = new(&[]).code(128);
    assert!(
        out.stderr.contains(
            "fatal: agent.price.my-model.output is not set: 'my-model' is not in the built-in \
             price table"
        ),
        "{out}"
    );
    env.git(&["config", "agent.price.my-model.output", "8"]);
    // A model known before it runs, with no price: refused before anything is made.
    env.git(&[
        "config",
        "--add",
        "agent.profile.codex.arg",
        "--model=gpt-9",
    ]);
    let out = new(&[]).code(128);
    assert!(
        out.stderr.contains(
            "fatal: --budget $1.00 cannot be held for 'codex': it reports tokens, and its model \
             'gpt-9' has no known price"
        ) && out.stderr.contains("git config agent.price.gpt-9.input"),
        "{out}"
    );
    assert!(!env.has_record("p"), "nothing was made");
    // Priced in config, it is accepted.
    env.git(&["config", "agent.price.gpt-9.input", "3"]);
    env.git(&["config", "agent.price.gpt-9.output", "12"]);
    new(&[]).ok();
    env.wait_state("p", "done");
}

#[test]
fn claude_is_held_mid_run_on_its_messages_tokens_before_it_reports_a_cost() {
    // claude-opus-4-8 at $5 in, $25 out: each message below costs $0.075.
    let env = env_with(
        "claude",
        "write part.txt x\ntokens claude-opus-4-8 10000 1000\nsleep 0.3\n\
         tokens claude-opus-4-8 10000 1000\nsleep 30\nwrite never.txt x",
    );
    env.agent(&[
        "new", "--agent", "claude", "--name", "k", "--budget", "0.10", "t",
    ])
    .ok();
    let r = env.wait_state("k", "over-budget");
    assert_eq!(
        r["reason"], "over budget: spent ~$0.150 (estimated) of $0.100",
        "{r:#}"
    );
    let files = committed(&env, "k");
    assert!(
        files.contains("part.txt") && !files.contains("never.txt"),
        "{files}"
    );
}
