//! `--runner podman` against a real podman (rootful here): the same runner as Docker's, by
//! the other CLI. Skips (saying why) where `podman info` fails. The image is the Docker
//! tier's, imported into podman's store.

#![allow(clippy::disallowed_methods)] // drives podman directly to look at its containers

use std::sync::OnceLock;

use crate::runner_docker::{kill_client, log};
use crate::support::TestEnv;

fn image() -> Option<String> {
    static IMAGE: OnceLock<Option<String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| crate::runner_docker::image_of("podman"))
        .clone()
}

macro_rules! podman_or_skip {
    () => {
        match image() {
            Some(image) => image,
            None => {
                eprintln!("skipped: 'podman info' fails (no podman here)");
                return;
            }
        }
    };
}

/// A repository whose agents run in the test image under podman, offline.
fn podman_env(image: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.git(&["config", "agent.runner", "podman"]);
    env.git(&["config", "agent.image", image]);
    env.git(&["config", "agent.runner.network", "none"]);
    // Podman gives containers its own default rlimits, above the hard limits of some
    // machines (CI's among them), where no container could start: inherit the host's.
    let conf = env.root().join("containers.conf");
    std::fs::write(&conf, "[containers]\ndefault_ulimits = []\n").unwrap();
    env.set_env("CONTAINERS_CONF", conf.to_str().unwrap());
    env
}

fn spawn(env: &TestEnv, name: &str, script: &str) {
    crate::runner_docker_clone::spawn(env, name, script, &[]);
}

fn containers(env: &TestEnv) -> Vec<String> {
    crate::runner_docker::ours_in("podman", env, "-aq")
}

#[test]
fn podman_runs_the_agent_mounted_and_in_a_clone() {
    let image = podman_or_skip!();
    let env = podman_env(&image);
    spawn(&env, "mounted", "write m.txt mounted\ncommit from podman\n");
    env.wait_state("mounted", "done");
    let tip = env.git(&["log", "-1", "--format=%s", "agent/mounted"]);
    assert_eq!(tip.trim(), "from podman", "{}", log(&env, "mounted"));
    // The read-only git directory's complaint is not the agent's words.
    assert!(
        !log(&env, "mounted").contains("packed-refs.lock"),
        "{}",
        log(&env, "mounted")
    );
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stdout.contains("fake-agent (podman)"),
        "{}",
        list.stdout
    );

    env.git(&["config", "agent.runner.workspace", "clone"]);
    spawn(
        &env,
        "cloned",
        "write c.txt cloned\ncommit cloned in podman\nwrite loose.txt l\n",
    );
    env.wait_state("cloned", "done");
    let subjects = env.git(&["log", "-2", "--format=%s", "agent/cloned"]);
    assert!(
        subjects.lines().nth(1) == Some("cloned in podman"),
        "{subjects}\n{}",
        log(&env, "cloned")
    );
    let files = env.git(&["show", "--name-only", "--format=", "agent/cloned"]);
    assert_eq!(files.trim(), "loose.txt");
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
}

#[test]
fn podman_containers_of_a_crash_are_found_and_their_work_kept() {
    let image = podman_or_skip!();
    let env = podman_env(&image);
    env.git(&["config", "agent.runner.workspace", "clone"]);
    spawn(
        &env,
        "crashed",
        "write kept.txt k\ncommit kept\nprint ready\nsleep 300\n",
    );
    env.wait_until("the agent to be ready", || {
        log(&env, "crashed").contains("ready")
    });
    env.kill_supervisor("crashed");
    kill_client(&env, "crashed");
    env.agent(&["stop", "crashed"]).ok();
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
    let kept = env.git(&["log", "-1", "--format=%s", "refs/agent-incoming/crashed"]);
    assert_eq!(kept.trim(), "kept");
}
