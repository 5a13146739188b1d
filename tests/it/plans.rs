//! Plans (`git agent plan check`): the issue's example plan checks and prints its waves; every
//! kind of bad plan is refused with exit 128, naming the task and the line, nothing started.

use crate::support::TestEnv;

/// The README's example plan, plus a third task whose `touches` overlap `index`'s.
const EXAMPLE: &str = r#"name = "search-v2"
base = "main"                    # default: current branch
max_parallel = 3                 # on top of agent.maxParallel
validate = "cargo test"          # run on the integration branch when all tasks landed
land = "manual"                  # or "auto": land the integration branch when validate passes

[[task]]
id = "skeleton"
prompt = "Create the module layout and the shared types for search v2 …"
agent = "claude"
touches = ["src/search/mod.rs", "src/search/types.rs"]

[[task]]
id = "index"
depends_on = ["skeleton"]
prompt = "Implement the index builder …"
touches = ["src/search/index/**"]
verify = "cargo test search::index"

[[task]]
id = "ranking"
depends_on = ["skeleton"]
prompt_file = "prompts/ranking.md"
agent = ["claude", "codex"]
touches = ["src/search/index/rank.rs"]
budget = "$2.50"
timeout = "30m"

[[task]]
id = "docs"
depends_on = ["index", "ranking"]
prompt = "Document search v2"
touches = ["README.md"]
"#;

fn with_plan(text: &str) -> TestEnv {
    let env = TestEnv::new();
    env.write("plan.toml", text);
    env.write("prompts/ranking.md", "Rank the results\n");
    env
}

/// `plan check` on the example with one edit (`from` → `to`), expected to fail: its stderr.
#[track_caller]
fn refused(from: &str, to: &str) -> String {
    assert!(EXAMPLE.contains(from), "{from}");
    let env = with_plan(&EXAMPLE.replacen(from, to, 1));
    let out = env.agent(&["plan", "check", "plan.toml"]).code(128);
    assert!(out.stdout.is_empty(), "nothing printed on stdout:\n{out}");
    out.stderr
}

#[test]
fn the_example_plan_checks_and_prints_its_waves() {
    let env = with_plan(EXAMPLE);
    let out = env.agent(&["plan", "check", "plan.toml"]).ok();
    assert!(
        out.stdout
            .contains("Plan 'search-v2' is valid: 4 tasks in 3 waves, from main"),
        "{out}"
    );
    assert!(out.stdout.contains("wave 1: skeleton\n"), "{out}");
    assert!(
        out.stdout
            .contains("wave 2: index (after skeleton), ranking (after skeleton)\n"),
        "{out}"
    );
    assert!(
        out.stdout.contains(
            "  index and ranking run one after the other: 'src/search/index/**' and 'src/search/index/rank.rs' overlap"
        ),
        "{out}"
    );
    assert!(
        out.stdout.contains("wave 3: docs (after index, ranking)\n"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("Nothing ran; run it with: git agent plan run plan.toml"),
        "{out}"
    );
    // New files are fine: a warning, not an error.
    assert!(
        out.stderr.contains(
            "warning: plan.toml:11: task 'skeleton': touches 'src/search/types.rs' matches no file at the base (fine if the task creates it)"
        ),
        "{out}"
    );
    assert!(!out.stderr.contains("'README.md' matches no file"), "{out}");

    let doc = env
        .agent(&["plan", "check", "plan.toml", "--json"])
        .ok()
        .json();
    assert_eq!(doc["name"], "search-v2");
    assert_eq!(doc["land"], "manual");
    assert_eq!(doc["max_parallel"], 3);
    assert_eq!(doc["base"]["ref_name"], "refs/heads/main");
    let waves: Vec<Vec<String>> = doc["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| serde_json::from_value(w["tasks"].clone()).unwrap())
        .collect();
    assert_eq!(
        waves,
        vec![vec!["skeleton"], vec!["index", "ranking"], vec!["docs"]]
    );
    assert_eq!(doc["waves"][1]["serialized"][0]["first"], "index");
    assert_eq!(doc["waves"][1]["serialized"][0]["second"], "ranking");
    let ranking = &doc["tasks"][2];
    assert_eq!(ranking["id"], "ranking");
    assert_eq!(ranking["line"], 21);
    assert_eq!(ranking["wave"], 2);
    assert_eq!(ranking["budget"], 2.5);
    assert_eq!(ranking["timeout_secs"], 1800);
    assert_eq!(ranking["agents"], serde_json::json!(["claude", "codex"]));
}

#[test]
fn a_cycle_is_named_with_its_path() {
    let err = refused(
        "depends_on = [\"skeleton\"]\nprompt = \"Implement",
        "depends_on = [\"docs\"]\nprompt = \"Implement",
    );
    assert!(
        err.contains("fatal: plan.toml:14: task 'index': a dependency cycle: index → docs → index"),
        "{err}"
    );
}

#[test]
fn an_unknown_dependency_is_refused() {
    let err = refused(
        "depends_on = [\"index\", \"ranking\"]",
        "depends_on = [\"index\", \"rankng\"]",
    );
    assert!(
        err.contains(
            "fatal: plan.toml:31: task 'docs': depends on 'rankng', which is not a task of this plan"
        ),
        "{err}"
    );
}

#[test]
fn a_duplicate_id_is_refused() {
    let err = refused("id = \"docs\"", "id = \"index\"");
    assert!(
        err.contains("plan.toml:30: task 'index': duplicate task id"),
        "{err}"
    );
}

#[test]
fn an_empty_prompt_and_a_missing_prompt_are_refused() {
    let err = refused("prompt = \"Document search v2\"", "prompt = \"  \"");
    assert!(
        err.contains("fatal: plan.toml:32: task 'docs': the prompt is empty"),
        "{err}"
    );
    let err = refused("prompt = \"Document search v2\"\n", "");
    assert!(
        err.contains("fatal: plan.toml:30: task 'docs': has no prompt (prompt or prompt_file)"),
        "{err}"
    );
    let err = refused("prompts/ranking.md", "prompts/nothing.md");
    assert!(
        err.contains("fatal: plan.toml:23: task 'ranking': cannot read prompt_file"),
        "{err}"
    );
}

#[test]
fn globs_that_escape_the_repository_are_refused() {
    let err = refused("[\"README.md\"]", "[\"../outside/**\", \"/etc/passwd\"]");
    assert!(
        err.contains(
            "error: plan.toml:33: task 'docs': touches '../outside/**' escapes the repository"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "error: plan.toml:33: task 'docs': touches '/etc/passwd' escapes the repository"
        ),
        "{err}"
    );
    assert!(
        err.contains("fatal: the plan plan.toml has 2 problems, nothing was started"),
        "{err}"
    );
}

#[test]
fn an_unknown_profile_is_refused() {
    let err = refused("[\"claude\", \"codex\"]", "[\"claude\", \"nobody\"]");
    assert!(
        err.contains("fatal: plan.toml:24: task 'ranking': unknown profile:"),
        "{err}"
    );
    assert!(err.contains("'nobody'"), "{err}");
}

#[test]
fn a_base_that_does_not_resolve_is_refused() {
    let err = refused("base = \"main\"", "base = \"no-such-branch\"");
    assert!(
        err.contains("fatal: plan.toml:2: invalid base 'no-such-branch'"),
        "{err}"
    );
}

#[test]
fn bad_settings_and_unknown_keys_name_their_line() {
    let err = refused("land = \"manual\"", "land = \"sometimes\"");
    assert!(
        err.contains("fatal: plan.toml:5: bad land 'sometimes'"),
        "{err}"
    );
    let err = refused("max_parallel = 3", "max_parallel = 0");
    assert!(
        err.contains("fatal: plan.toml:3: bad max_parallel 0"),
        "{err}"
    );
    let err = refused("budget = \"$2.50\"", "budget = 0");
    assert!(
        err.contains("fatal: plan.toml:26: task 'ranking': bad budget '0'"),
        "{err}"
    );
    let err = refused("timeout = \"30m\"", "timeout = \"soon\"");
    assert!(
        err.contains("fatal: plan.toml:27: task 'ranking': bad timeout: invalid duration 'soon'"),
        "{err}"
    );
    let err = refused("verify = ", "verfy = ");
    assert!(
        err.contains("fatal: plan.toml:18: unknown field `verfy`"),
        "{err}"
    );
}

/// The README's plan example is a valid plan.
#[test]
fn the_readme_example_is_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    // Every plan in the README: the format's example and the workflows'.
    let plans: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .filter(|block| block.starts_with("name = "))
        .map(|block| &block[..block.find("```").unwrap()])
        .collect();
    assert_eq!(plans.len(), 3, "the example and two workflows");
    for (i, plan) in plans.iter().enumerate() {
        let env = TestEnv::new();
        env.write("plan.toml", plan);
        env.write("prompts/index.md", "Implement the index builder\n");
        let out = env.agent(&["plan", "check", "plan.toml"]).ok();
        if i == 0 {
            assert!(
                out.stdout.contains("wave 2: index (after skeleton)"),
                "{out}"
            );
        }
    }
}

#[test]
fn a_result_of_a_task_it_does_not_depend_on_is_refused() {
    let err = refused(
        "prompt = \"Implement the index builder …\"",
        "prompt = \"Implement the index builder after {{ task.ranking.result }}\"",
    );
    assert!(
        err.contains(
            "task 'index': its prompt uses the result of 'ranking', which it does not depend on"
        ),
        "{err}"
    );
    // A result of a task it depends on, even through another, is fine.
    let env = with_plan(&EXAMPLE.replacen(
        "prompt = \"Document search v2\"",
        "prompt = \"Document: {{ deps }} and {{ task.skeleton.result }}\"",
        1,
    ));
    env.agent(&["plan", "check", "plan.toml"]).ok();
}

#[test]
fn ids_that_cannot_name_a_session_are_refused() {
    let err = refused("id = \"docs\"", "id = \"integration\"");
    assert!(
        err.contains("task 'integration': the id 'integration' is taken"),
        "{err}"
    );
    let err = refused("id = \"docs\"", "id = \"do..cs\"");
    assert!(
        err.contains("the id cannot name its session 'search-v2-do..cs'"),
        "{err}"
    );
}

/// `plan check` warns of a profile whose program is missing; `plan run` refuses it, naming
/// the task and line, and starts nothing.
#[test]
fn plan_run_refuses_a_task_whose_agent_is_missing_and_starts_nothing() {
    let env = with_plan(EXAMPLE);
    let out = env
        .agent(&["plan", "run", "plan.toml", "--trust"])
        .code(128);
    assert!(
        out.stderr.contains(
            "plan.toml:10: task 'skeleton': profile 'claude': its program 'claude' is not installed"
        ),
        "{out}"
    );
    assert_eq!(env.git(&["branch", "--list", "plan/*"]), "");
    assert!(!env.state_dir().join("plans/search-v2.json").exists());
    assert!(!env.has_record("search-v2-skeleton"));
}

#[test]
fn a_task_with_more_sessions_than_max_parallel_can_never_start() {
    let err = refused("max_parallel = 3", "max_parallel = 1");
    assert!(
        err.contains("plan.toml:21: task 'ranking': it runs 2 sessions at once (variants × agents), more than max_parallel = 1: it could never start"),
        "{err}"
    );
}
