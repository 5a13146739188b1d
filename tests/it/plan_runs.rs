//! Running plans (`git agent plan run`, `status`, `wait`, `land`): tasks start when their
//! dependencies have landed on the integration branch, never beside a task owning the same
//! paths, within the plan's cap; each lands as one commit; validate runs once; `plan land`
//! moves the base.

use crate::support::TestEnv;
use crate::support::plans::{profile, status, task, ts};

const SIX: &str = r#"name = "six"
base = "main"
max_parallel = 2
validate = "test -f docs.md && echo once >> VALIDATE_COUNT"

[[task]]
id = "skeleton"
agent = "skeleton"
prompt = "Lay out the modules"
touches = ["src/types.rs"]

[[task]]
id = "lint"
agent = "lint"
prompt = "Add a lint config"
touches = ["lint.toml"]

[[task]]
id = "alpha"
agent = "alpha"
depends_on = ["skeleton"]
prompt = "Build alpha"
touches = ["src/alpha.rs"]

[[task]]
id = "beta"
agent = "beta"
depends_on = ["skeleton"]
prompt = "Build beta"
touches = ["src/shared/**"]

[[task]]
id = "gamma"
agent = "gamma"
depends_on = ["skeleton"]
prompt = "Build gamma"
touches = ["src/shared/gamma.rs"]

[[task]]
id = "docs"
agent = "docs"
depends_on = ["alpha", "beta", "gamma"]
prompt = "Document it all:\n{{ deps }}"
touches = ["docs.md"]
"#;

fn six_task_env() -> TestEnv {
    let env = TestEnv::new();
    let count = env.path("validate.count");
    env.write(
        "plan.toml",
        &SIX.replace("VALIDATE_COUNT", &count.to_string_lossy()),
    );
    profile(
        &env,
        "skeleton",
        "sleep 0.3\nwrite src/types.rs pub struct T;\nprint Made src/types.rs with the type T.",
    );
    profile(
        &env,
        "lint",
        "sleep 0.6\nwrite lint.toml strict = true\nprint Lint is strict.",
    );
    profile(
        &env,
        "alpha",
        "sleep 0.3\nwrite src/alpha.rs alpha\nprint Alpha is built.",
    );
    profile(
        &env,
        "beta",
        "sleep 0.3\nwrite src/shared/beta.rs beta\nprint Beta is built.",
    );
    profile(
        &env,
        "gamma",
        "sleep 0.3\nwrite src/shared/gamma.rs gamma\nprint Gamma is built.",
    );
    profile(&env, "docs", "write docs.md docs\nprint Documented.");
    env
}

#[test]
fn six_tasks_land_in_dependency_order_within_the_cap_and_validate_once() {
    let env = six_task_env();
    let out = env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    assert!(out.stdout.contains("Plan 'six' runs on plan/six"), "{out}");
    let waited = env
        .agent(&["plan", "wait", "six", "--timeout", "120s"])
        .code(0);
    assert!(waited.stdout.contains("plan six: validated"), "{waited}");

    let doc = status(&env, "six");
    let span = |id: &str| {
        let t = task(&doc, id);
        assert_eq!(t["state"], "landed", "{t}");
        (
            ts(&t["started_at"]),
            ts(&t["ended_at"]),
            ts(&t["landed_at"]),
        )
    };
    let ids = ["skeleton", "lint", "alpha", "beta", "gamma", "docs"];
    let spans: Vec<(i128, i128, i128)> = ids.iter().map(|id| span(id)).collect();
    // Dependencies: each task started after what it depends on landed.
    let (skeleton, alpha, beta, gamma, docs) = (spans[0], spans[2], spans[3], spans[4], spans[5]);
    for (id, s) in [("alpha", alpha), ("beta", beta), ("gamma", gamma)] {
        assert!(s.0 > skeleton.2, "{id} started before skeleton landed");
    }
    for dep in [alpha, beta, gamma] {
        assert!(docs.0 > dep.2, "docs started before a dependency landed");
    }
    // The overlapping pair never ran at the same time.
    assert!(
        beta.1 < gamma.0 || gamma.1 < beta.0,
        "beta and gamma overlapped in time: {beta:?} {gamma:?}"
    );
    // Never more than 2 at once.
    for s in &spans {
        let at_once = spans.iter().filter(|o| o.0 <= s.0 && s.0 < o.1).count();
        assert!(at_once <= 2, "{at_once} tasks ran at once");
    }
    // Validate ran once.
    let count = std::fs::read_to_string(env.path("validate.count")).unwrap();
    assert_eq!(count, "once\n");
    // The integration branch: six commits, one per task, in an order dependencies allow.
    let log = env.git(&["log", "--format=%s", "--reverse", "main..plan/six"]);
    let subjects: Vec<&str> = log.lines().collect();
    assert_eq!(subjects.len(), 6, "{log}");
    let pos = |s: &str| subjects.iter().position(|x| x.starts_with(s)).unwrap();
    assert!(pos("Lay out") < pos("Build alpha"));
    assert!(pos("Build beta") < pos("Document"));
    assert!(pos("Build gamma") < pos("Document"));
    // The dependent's prompt carried what its dependencies reported.
    let prompt = std::fs::read_to_string(env.state_dir().join("plans/six/docs.prompt.md")).unwrap();
    assert!(prompt.contains("## Task 'alpha'"), "{prompt}");
    assert!(prompt.contains("Alpha is built."), "{prompt}");
    assert!(prompt.contains("Gamma is built."), "{prompt}");

    // Land: main moves to the integration branch.
    let tip = env.git(&["rev-parse", "plan/six"]);
    let landed = env.agent(&["plan", "land", "six"]).ok();
    assert!(
        landed.stdout.contains("Landed plan six on main"),
        "{landed}"
    );
    assert_eq!(env.git(&["rev-parse", "main"]), tip);
    assert!(env.root().join("repo/docs.md").exists());
    let table = env.agent(&["plan", "status", "six"]).ok();
    assert!(
        table.stdout.contains("Plan six: landed — 6 of 6 landed"),
        "{table}"
    );
}

#[test]
fn a_failing_validate_gets_one_fixer_whose_work_lands_then_validate_passes() {
    let env = TestEnv::new();
    env.write(
        "plan.toml",
        "name = \"fixme\"\nvalidate = \"test -f fixed.txt\"\nfix = true\n\n[[task]]\nid = \"t\"\nagent = \"t\"\nprompt = \"Do t\"\n",
    );
    profile(&env, "t", "write t.txt t\nprint Did t.");
    profile(&env, "fixer", "write fixed.txt ok\nprint Fixed it.");
    env.git(&["config", "agent.default", "fixer"]);
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    let waited = env.agent(&["plan", "wait", "--timeout", "120s"]).code(0);
    assert!(waited.stdout.contains("plan fixme: validated"), "{waited}");
    let doc = status(&env, "fixme");
    let v = &doc["plan"]["validation"];
    assert_eq!(v["runs"], 2, "{v}");
    assert_eq!(v["passed"], true, "{v}");
    assert_eq!(v["fixer"], "fixme-fix", "{v}");
    let log = env.git(&["log", "--format=%s", "main..plan/fixme"]);
    assert_eq!(log.lines().count(), 2, "{log}");
    // The fixer was told what failed.
    let prompt =
        std::fs::read_to_string(env.state_dir().join("plans/fixme/fix.prompt.md")).unwrap();
    assert!(prompt.contains("test -f fixed.txt"), "{prompt}");
}

#[test]
fn a_failing_validate_without_fix_fails_the_plan_and_plan_land_refuses() {
    let env = TestEnv::new();
    env.write(
        "plan.toml",
        "name = \"nofix\"\nvalidate = \"echo broken; exit 3\"\n\n[[task]]\nid = \"t\"\nagent = \"t\"\nprompt = \"Do t\"\n",
    );
    profile(&env, "t", "write t.txt t");
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    let waited = env.agent(&["plan", "wait", "--timeout", "120s"]).code(1);
    assert!(waited.stdout.contains("plan nofix: failed"), "{waited}");
    let table = env.agent(&["plan", "status"]).ok();
    assert!(table.stdout.contains("Validate: failed"), "{table}");
    assert!(table.stdout.contains("broken"), "{table}");
    let main = env.git(&["rev-parse", "main"]);
    let refused = env.agent(&["plan", "land", "nofix"]).code(1);
    assert!(
        refused
            .stderr
            .contains("fatal: plan 'nofix' is failed, not validated"),
        "{refused}"
    );
    assert_eq!(env.git(&["rev-parse", "main"]), main);
}

/// `max_parallel` counts sessions: a task's two variants fill a cap of 2, so another task
/// waits for them although nothing else stops it.
#[test]
fn variants_count_against_max_parallel() {
    let env = TestEnv::new();
    env.write(
        "plan.toml",
        "name = \"cap\"\nmax_parallel = 2\n\n[[task]]\nid = \"v\"\nagent = \"v\"\nvariants = 2\nprompt = \"Do v\"\ntouches = [\"v.txt\"]\n\n[[task]]\nid = \"w\"\nagent = \"w\"\nprompt = \"Do w\"\ntouches = [\"w.txt\"]\n",
    );
    profile(&env, "v", "sleep 0.5\nwrite v.txt v\nprint Did v.");
    profile(&env, "w", "sleep 0.2\nwrite w.txt w\nprint Did w.");
    env.agent(&["plan", "run", "plan.toml"]).ok();
    env.agent(&["plan", "wait", "--timeout", "120s"]).code(0);
    let doc = status(&env, "cap");
    let (v, w) = (task(&doc, "v"), task(&doc, "w"));
    assert_eq!(
        v["sessions"],
        serde_json::json!(["cap-v-1", "cap-v-2"]),
        "{v}"
    );
    assert!(
        ts(&w["started_at"]) > ts(&v["ended_at"]),
        "w started while v's two variants ran: {v} {w}"
    );
    // One variant landed; the other is kept for review.
    assert_eq!(v["state"], "landed");
    let kept = if v["chosen"] == "cap-v-1" {
        "cap-v-2"
    } else {
        "cap-v-1"
    };
    assert!(env.has_record(kept), "{v}");
}

/// A task whose agent changes nothing lands nothing, and says so.
#[test]
fn a_task_that_changes_nothing_says_it_landed_nothing() {
    let env = TestEnv::new();
    env.write(
        "plan.toml",
        "name = \"idle\"\n\n[[task]]\nid = \"look\"\nagent = \"look\"\nprompt = \"Just look\"\n",
    );
    profile(&env, "look", "print Nothing to do.");
    env.agent(&["plan", "run", "plan.toml"]).ok();
    env.agent(&["plan", "wait", "--timeout", "120s"]).code(0);
    let table = env.agent(&["plan", "status"]).ok();
    assert!(
        table
            .stdout
            .contains("nothing new to land: its work was on the branch already"),
        "{table}"
    );
    assert_eq!(
        env.git(&["rev-list", "--count", "main..plan/idle"]).trim(),
        "0"
    );
}

/// Several approaches: the first variant that ended `done` fails its verify (no retry left),
/// so the next one that ended `done` lands instead; the first stays for review.
#[test]
fn when_a_variants_verify_fails_the_next_done_variant_lands() {
    let env = TestEnv::new();
    env.write(
        "plan.toml",
        "name = \"two\"\n\n[[task]]\nid = \"v\"\nagent = \"v\"\nvariants = 2\nprompt = \"Do v\"\ntouches = [\"v.txt\"]\nverify = \"grep -q two-v-2 v.txt\"\n",
    );
    profile(&env, "v", "write v.txt $GIT_AGENT_NAME\nprint Did it.");
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    let waited = env.agent(&["plan", "wait", "--timeout", "120s"]);
    let doc = status(&env, "two");
    let v = task(&doc, "v");
    assert_eq!(waited.code, 0, "{waited}\n{v:#}");
    assert_eq!(v["state"], "landed", "{v:#}");
    assert_eq!(v["chosen"], "two-v-2", "{v:#}");
    assert_eq!(v["rejected"], serde_json::json!(["two-v-1"]), "{v:#}");
    assert_eq!(env.git(&["show", "plan/two:v.txt"]).trim(), "two-v-2");
    assert!(
        env.has_record("two-v-1"),
        "the rejected variant stays for review"
    );
}

/// `land = "auto"`: once validate passes, the integration branch lands on the base by itself,
/// through the checkout of the base (a fast-forward: the task's commit stays as it is).
#[test]
fn land_auto_lands_the_plan_once_validate_passes() {
    let env = TestEnv::new();
    env.write(
        "plan.toml",
        "name = \"auto\"\nvalidate = \"test -f t.txt\"\nland = \"auto\"\n\n[[task]]\nid = \"t\"\nagent = \"t\"\nprompt = \"Do t\"\n",
    );
    env.git(&["add", "plan.toml"]);
    env.git(&["commit", "-q", "-m", "the plan"]);
    profile(&env, "t", "write t.txt t\nprint Did t.");
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    let waited = env.agent(&["plan", "wait", "--timeout", "120s"]).code(0);
    assert!(waited.stdout.contains("plan auto: landed"), "{waited}");
    let doc = status(&env, "auto");
    let tip = env.git(&["rev-parse", "plan/auto"]);
    assert_eq!(env.git(&["rev-parse", "main"]), tip);
    assert_eq!(doc["plan"]["landed"]["into"], "main", "{doc:#}");
    assert_eq!(doc["plan"]["landed"]["commit"], tip.trim(), "{doc:#}");
    // The checkout of main moved with it.
    assert_eq!(
        std::fs::read_to_string(env.root().join("repo/t.txt")).unwrap(),
        "t\n"
    );
    assert_eq!(
        env.git(&["log", "-1", "--format=%s", "main"]).trim(),
        "Do t"
    );
}

/// A plan that cannot start (its branch is taken) asks nothing and approves nothing, even with
/// `--trust`.
#[test]
fn a_plan_that_cannot_start_approves_none_of_its_commands() {
    let env = TestEnv::new();
    env.write(
        "plan.toml",
        "name = \"taken\"\nvalidate = \"echo validated-by-taken\"\n\n[[task]]\nid = \"t\"\nagent = \"t\"\nprompt = \"Do t\"\n",
    );
    profile(&env, "t", "write t.txt t");
    env.git(&["branch", "plan/taken"]);
    let out = env
        .agent(&["plan", "run", "plan.toml", "--trust"])
        .code(128);
    assert!(
        out.stderr.contains("the branch plan/taken exists already"),
        "{out}"
    );
    assert!(!out.stderr.contains("Approved"), "{out}");
    let approved = env.agent(&["trust", "--list"]).ok();
    assert!(
        !approved.stdout.contains("validated-by-taken"),
        "{approved}"
    );
}
