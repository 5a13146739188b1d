//! Agent CLIs that keep state per checkout, run as two sessions in one worktree (`new --in`):
//! aider's chat history is the session's own, every run of it.

use crate::support::TestEnv;

fn args_of(env: &TestEnv, name: &str) -> Vec<Vec<String>> {
    env.calls()
        .into_iter()
        .filter(|c| c["env"]["GIT_AGENT_NAME"] == name)
        .map(|c| {
            c["argv"].as_array().unwrap()[1..]
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

fn value_of<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.windows(2)
        .find(|w| w[0] == flag)
        .map(|w| w[1].as_str())
}

#[test]
fn an_aider_session_sharing_a_worktree_keeps_its_own_chat_history() {
    let mut env = TestEnv::new();
    env.install_fake("aider");
    let script = env.script("agent", "write out-$GIT_AGENT_NAME.txt x");
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    env.agent(&["new", "--agent", "aider", "--name", "a", "plan it"])
        .ok();
    env.wait_state("a", "done");
    env.agent(&[
        "new", "--in", "a", "--agent", "aider", "--name", "b", "do it",
    ])
    .ok();
    env.wait_state("b", "done");

    let a = &args_of(&env, "a")[0];
    assert_eq!(value_of(a, "--chat-history-file"), None, "{a:?}");
    assert_eq!(value_of(a, "--input-history-file"), None, "{a:?}");
    let own = |args: &[String]| {
        value_of(args, "--chat-history-file") == Some(".aider.b.chat.history.md")
            && value_of(args, "--input-history-file") == Some(".aider.b.input.history")
    };
    let b = &args_of(&env, "b")[0];
    assert!(own(b), "b's first run has its own histories: {b:?}");

    env.agent(&["send", "b", "more"]).ok();
    env.wait_state("b", "done");
    let b2 = &args_of(&env, "b")[1];
    assert!(
        b2.contains(&"--restore-chat-history".to_owned()) && own(b2),
        "b's follow-up restores its own history: {b2:?}"
    );

    // Read-only, aider's ask mode already sends its histories nowhere: that stays.
    env.agent(&[
        "new",
        "--in",
        "a",
        "--read-only",
        "--agent",
        "aider",
        "--name",
        "c",
        "look",
    ])
    .ok();
    env.wait_state("c", "done");
    let c = &args_of(&env, "c")[0];
    assert_eq!(
        value_of(c, "--chat-history-file"),
        Some("/dev/null"),
        "{c:?}"
    );
    assert_eq!(
        c.iter().filter(|x| *x == "--chat-history-file").count(),
        1,
        "{c:?}"
    );
}
