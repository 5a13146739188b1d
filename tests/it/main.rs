//! The one integration-test binary: every suite is a module here.

mod ai_judge;
mod shared_cli_state;
mod shared_worktree;
mod support;

mod ai_review;
mod architecture;
mod budgets;
mod capacity;
mod capacity_attacks;
mod cleanup;
mod conversations;
mod dispatch;
mod doctor;
mod events;
mod failures;
mod fork;
mod include_safety;
mod lifecycle;
mod location;
mod man_pages;
mod merge;
mod names_and_variants;
mod notifications;
mod ownership;
mod plan_attacks;
mod plan_draft;
mod plan_overlap;
mod plan_recovery;
mod plan_runs;
mod plans;
mod profiles;
mod rate_limits;
mod real_agents;
mod real_ai_judge;
mod real_ai_review;
mod real_conversations;
mod real_plans;
mod real_shared_worktree;
mod removal_safety;
mod review;
mod runner_attacks;
mod runner_docker;
mod runner_docker_clone;
mod runner_plugin;
mod runner_podman;
mod runner_ssh;
mod sandbox;
mod setup;
mod shell;
mod state_files;
mod watch;
mod watch_actions;
mod watch_loop;
mod watch_terminal;

/// Every `.rs` file under `tests/it/` must be declared above (a forgotten file would
/// silently never run).
#[test]
fn no_forgotten_test_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let module = path.file_stem().unwrap().to_string_lossy().into_owned();
            if module != "main" {
                assert!(
                    main.contains(&format!("mod {module};")),
                    "tests/it/{module}.rs is not declared in main.rs"
                );
            }
        }
    }
}
