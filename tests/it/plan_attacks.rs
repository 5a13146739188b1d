//! Plans under attack: a user (or an agent) doing what a careful git user might to lose work
//! or get around the rules while a plan runs — moving or checking out its integration branch,
//! an agent's `.git-agent.toml` landing on it, a damaged record, a plan started from inside an
//! agent's run.

use crate::support::TestEnv;
use crate::support::plans::{profile, status, task};

fn wait(env: &TestEnv, name: &str) -> crate::support::Out {
    env.agent(&["plan", "wait", name, "--timeout", "120s"])
}

const TWO: &str = r#"name = "two"
base = "main"

[[task]]
id = "first"
agent = "first"
prompt = "Lay the ground"
touches = ["first/**"]

[[task]]
id = "second"
agent = "second"
depends_on = ["first"]
prompt = "Build on it"
touches = ["second/**"]
"#;

/// `TWO`'s first task alone.
const ONE: &str = r#"name = "two"
base = "main"

[[task]]
id = "first"
agent = "first"
prompt = "Lay the ground"
touches = ["first/**"]
"#;

/// The user checks `plan/<name>` out in the main worktree and edits the file a task is about
/// to land: the landing is refused (the task blocked, the plan says so), never over their
/// uncommitted change.
#[test]
fn a_checked_out_integration_branch_with_your_edits_is_never_overwritten() {
    let env = TestEnv::new();
    env.write("plan.toml", &ONE.replace("first/**", "README.md"));
    let go = env.path("go");
    profile(
        &env,
        "first",
        &format!(
            "wait-for {}\nwrite README.md agent\ncommit agent",
            go.display()
        ),
    );
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    env.git(&["checkout", "-q", "plan/two"]);
    env.write("README.md", "mine, not committed\n");
    env.touch("go");
    wait(&env, "two").code(1);
    assert_eq!(
        std::fs::read_to_string(env.root().join("repo/README.md")).unwrap(),
        "mine, not committed\n"
    );
    let doc = status(&env, "two");
    assert_eq!(task(&doc, "first")["state"], "blocked", "{doc}");
}

/// The user force-moves `plan/<name>` back after a task landed: the landed commit is no longer
/// on the integration branch. The plan must notice (blocked, naming the task and the commit),
/// never start a dependent without its dependency's work, nor call itself validated.
#[test]
fn a_force_moved_integration_branch_stops_the_plan() {
    let env = TestEnv::new();
    env.write("plan.toml", TWO);
    profile(&env, "first", "write first/a a\ncommit first");
    // `second` waits until the branch has been moved.
    let go = env.path("go");
    profile(
        &env,
        "second",
        &format!("wait-for {}\nwrite second/b b\ncommit second", go.display()),
    );
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    env.wait_until("first to land", || {
        task(&status(&env, "two"), "first")["state"] == "landed"
    });
    let main = env.git(&["rev-parse", "main"]);
    env.git(&["branch", "-f", "plan/two", main.trim()]);
    env.touch("go");
    let waited = wait(&env, "two").code(1);
    let doc = status(&env, "two");
    assert_ne!(doc["plan"]["state"], "validated", "{waited}\n{doc}");
    assert_eq!(doc["plan"]["state"], "blocked", "{doc}");
    let reason = doc["plan"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("first ("), "{doc}");
    // Put back as the reason says, the plan carries on and holds both tasks' work.
    let landed = task(&doc, "first")["landed"].as_str().unwrap().to_owned();
    assert!(
        reason.contains(&format!("git branch -f plan/two {landed}")),
        "{doc}"
    );
    env.git(&["branch", "-f", "plan/two", &landed]);
    env.agent(&["plan", "resume", "two"]).ok();
    wait(&env, "two").code(0);
    let files = env.git(&["ls-tree", "-r", "--name-only", "plan/two"]);
    assert!(
        files.contains("first/a") && files.contains("second/b"),
        "{files}"
    );
    // Moved again after it validated (checked out in validate's worktree: only update-ref
    // moves it): `plan land` refuses, main stays.
    env.git(&["update-ref", "refs/heads/plan/two", main.trim()]);
    let refused = env.agent(&["plan", "land", "two"]).code(1);
    assert!(refused.stderr.contains("no longer holds"), "{refused}");
    assert_eq!(env.git(&["rev-parse", "main"]), main);
}

/// A task's agent commits a `.git-agent.toml` whose setup command nobody approved: the
/// dependent task (created from the integration branch) never runs it; the task fails naming
/// the command, the plan is blocked.
#[test]
fn an_agents_setup_command_on_the_integration_branch_never_runs_unapproved() {
    let env = TestEnv::new();
    env.write("plan.toml", TWO);
    let pwned = env.path("pwned");
    profile(
        &env,
        "first",
        &format!(
            "write .git-agent.toml setup = \"touch {}\"\ncommit first",
            pwned.display()
        ),
    );
    profile(&env, "second", "write second/b b\ncommit second");
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    let waited = wait(&env, "two");
    assert!(!pwned.exists(), "the agent's setup ran: {waited}");
    waited.code(1);
    let doc = status(&env, "two");
    let second = task(&doc, "second");
    assert_eq!(second["state"], "failed", "{doc}");
    let reason = second["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("touch {}", pwned.display())),
        "{doc}"
    );
    assert_eq!(doc["plan"]["state"], "blocked", "{doc}");
}

/// The same `.git-agent.toml` from the plan's last task: validate's session is made on the
/// integration branch, but its setup comes from the base (the user's), never from what an
/// agent landed: nothing runs, validate passes.
#[test]
fn an_agents_setup_command_never_runs_in_validate() {
    let env = TestEnv::new();
    env.write("plan.toml", ONE);
    let pwned = env.path("pwned");
    profile(
        &env,
        "first",
        &format!(
            "write .git-agent.toml setup = \"touch {}\"\ncommit first",
            pwned.display()
        ),
    );
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    let waited = wait(&env, "two");
    assert!(!pwned.exists(), "the agent's setup ran: {waited}");
    waited.code(0);
}

/// A damaged plan record: `plan status` of it names the file; the others, `plan status` of
/// all and `list`, keep working.
#[test]
fn a_damaged_plan_record_is_named_and_the_rest_keep_working() {
    let env = TestEnv::new();
    env.write("plan.toml", ONE);
    profile(&env, "first", "write first/a a\ncommit first");
    env.agent(&["plan", "run", "plan.toml", "--trust"]).ok();
    wait(&env, "two").code(0);
    let plans = env.state_dir().join("plans");
    std::fs::write(plans.join("broken.json"), "{ not json").unwrap();
    let shown = env.agent(&["plan", "status", "broken"]).code(128);
    assert!(
        shown
            .stderr
            .contains(&plans.join("broken.json").display().to_string()),
        "{shown}"
    );
    let all = env.agent(&["plan", "status"]).ok();
    assert!(all.stdout.contains("two"), "{all}");
    assert!(all.stderr.contains("broken"), "{all}");
    env.agent(&["plan", "status", "two"]).ok();
    env.agent(&["list"]).ok();
}

/// What an agent runs cannot start, resume or land a plan: its sessions would run outside
/// the agent's run (untagged), `--trust` would approve commands for the user, and `land`
/// moves the user's branch.
#[test]
fn an_agents_run_cannot_start_or_land_a_plan() {
    let mut env = TestEnv::new();
    env.write("plan.toml", ONE);
    profile(&env, "first", "write first/a a\ncommit first");
    env.set_env("GIT_AGENT_RUN_TOKEN", "some-agent-run");
    let refused = env
        .agent(&["plan", "run", "plan.toml", "--trust"])
        .code(128);
    assert!(refused.stderr.contains("fatal:"), "{refused}");
    assert!(refused.stderr.contains("hint:"), "{refused}");
    assert!(env.git(&["branch", "--list", "plan/two"]).trim().is_empty());
    assert!(!env.state_dir().join("plans/two.json").exists());
}
