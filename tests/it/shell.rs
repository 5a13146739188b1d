//! Fitting the shell: completions sourced in bash (`git agent <TAB>` under git's completion).

use crate::support::TestEnv;

/// Completes `line` (the cursor at its end) with our bash script, as git's completion would
/// call `_git_agent`; returns the candidates.
fn complete(env: &TestEnv, script: &std::path::Path, line: &str) -> Vec<String> {
    let words: Vec<String> = shell_words(line);
    let cword = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n_git_agent\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" ")
    );
    let mut cmd = env.command("bash", &env.repo);
    cmd.args(["--norc", "--noprofile", "-c", &program]);
    let out = env.run(cmd);
    assert_eq!(out.code, 0, "{out}");
    out.stdout.lines().map(str::to_owned).collect()
}

/// `git -c KEY=VALUE… agent ARGS…`.
fn agent_with(env: &TestEnv, config: &[&str], args: &[&str]) -> crate::support::Out {
    let mut cmd = env.command("git", &env.repo);
    for c in config {
        cmd.args(["-c", c]);
    }
    cmd.arg("agent").args(args);
    env.run(cmd)
}

/// Splits on spaces, keeping a trailing empty word when the line ends with a space.
fn shell_words(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_owned).collect()
}

#[test]
fn bash_completion_under_git() {
    let env = TestEnv::new();
    env.spawn(&["--name", "fix-login", "t"], "exit 0");
    env.wait_state("fix-login", "done");
    let script = env.root().join("git-agent.bash");
    let out = env.agent(&["completions", "bash"]).ok();
    std::fs::write(&script, out.stdout).unwrap();

    let verbs = complete(&env, &script, "git agent s");
    for v in ["show", "send", "stop", "sync"] {
        assert!(verbs.contains(&v.to_owned()), "{v}: {verbs:?}");
    }
    let names = complete(&env, &script, "git agent show ");
    assert_eq!(names, ["fix-login"]);
    let names = complete(&env, &script, "git agent merge fix");
    assert_eq!(names, ["fix-login"]);
    let opts = complete(&env, &script, "git agent new --ba");
    assert_eq!(opts, ["--base"]);
    let opts = complete(&env, &script, "git agent review fix-login --st");
    assert!(opts.contains(&"--stat".to_owned()), "{opts:?}");
    // The dashed form too.
    let verbs = complete(&env, &script, "git-agent cle");
    assert_eq!(verbs, ["clean"]);
    // With git's own completion loaded first, ours still answers.
    let git_completion = std::path::Path::new("/usr/share/bash-completion/completions/git");
    if git_completion.exists() {
        let mut cmd = env.command("bash", &env.repo);
        let program = format!(
            "source '{}'\nsource '{}'\nCOMP_WORDS=(git agent sho)\nCOMP_CWORD=2\nCOMP_LINE='git agent sho'\nCOMP_POINT=13\n__git_main\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            git_completion.display(),
            script.display()
        );
        cmd.args(["--norc", "--noprofile", "-c", &program]);
        let out = env.run(cmd);
        assert!(out.stdout.contains("show"), "{out}");
    }
    for shell in ["zsh", "fish"] {
        let out = env.agent(&["completions", shell]).ok();
        assert!(out.stdout.contains("git-agent"), "{shell}");
    }
}

#[test]
fn colors_follow_the_flag_the_environment_and_git_config() {
    let mut env = TestEnv::new();
    env.spawn(&["--name", "c", "t"], "exit 0");
    env.wait_state("c", "done");
    let colored = |out: &crate::support::Out| out.stdout.contains('\u{1b}');
    // The harness sets NO_COLOR=1.
    assert!(!colored(&env.agent(&["list"]).ok()));
    assert!(colored(&env.agent(&["list", "--color=always"]).ok()));
    assert!(
        !colored(&agent_with(&env, &["color.agent=always"], &["list"]).ok()),
        "NO_COLOR wins over config"
    );
    env.set_env("NO_COLOR", "");
    assert!(!colored(&env.agent(&["list"]).ok()), "not a terminal");
    assert!(colored(
        &agent_with(&env, &["color.agent=always"], &["list"]).ok()
    ));
    assert!(colored(
        &agent_with(&env, &["color.ui=always"], &["list"]).ok()
    ));
    assert!(!colored(
        &agent_with(&env, &["color.ui=always", "color.agent=never"], &["list"]).ok()
    ));
    env.set_env("CLICOLOR_FORCE", "1");
    assert!(colored(&env.agent(&["list"]).ok()));
    assert!(!colored(&env.agent(&["list", "--color", "never"]).ok()));
    // Machine output never carries color.
    let json = env.agent(&["list", "--json", "--color=always"]).ok();
    assert!(!colored(&json), "{json}");
    // The width comes from COLUMNS.
    env.set_env("COLUMNS", "30");
    let narrow = env.agent(&["list", "--color=never"]).ok();
    assert!(
        narrow.stdout.lines().all(|l| l.chars().count() <= 30),
        "{narrow}"
    );
    env.agent(&["list", "--color=sometimes"]).code(2);
}

#[test]
fn config_lists_every_setting_and_where_it_comes_from() {
    let env = TestEnv::new();
    env.git(&["config", "agent.timeout", "30m"]);
    env.git(&["config", "--global", "agent.timeout", "1h"]);
    env.git(&["config", "agent.profile.mine.command", "my-agent --x"]);
    env.git(&["config", "agent.timout", "typo"]);
    env.write(".git-agent.toml", "verify = \"make test\"\n");
    env.git(&["add", "."]);
    env.git(&["commit", "-qm", "project file"]);
    let out = agent_with(&env, &["agent.default=codex"], &["config"]).ok();
    let line = |key: &str| -> Vec<String> {
        out.stdout
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(key))
            .map(str::to_owned)
            .collect()
    };
    assert!(
        line("agent.default")[0].contains("codex") && line("agent.default")[0].contains("git -c"),
        "{out}"
    );
    let timeout = line("agent.timeout");
    assert!(
        timeout[0].contains("1h (overridden)") && timeout[0].contains("global"),
        "{out}"
    );
    assert!(
        timeout[1].contains("30m") && timeout[1].contains("local"),
        "{out}"
    );
    assert!(
        line("agent.verify")[0].contains("make test")
            && line("agent.verify")[0].contains(".git-agent.toml"),
        "{out}"
    );
    assert!(
        line("agent.branchPrefix")[0].contains("agent/")
            && line("agent.branchPrefix")[0].contains("default"),
        "{out}"
    );
    assert!(!line("agent.profile.mine.command").is_empty(), "{out}");
    assert!(
        out.stderr
            .contains("agent.timout is not a setting git-agent knows"),
        "{out}"
    );
    let json = env.agent(&["config", "--json"]).ok().json();
    let verify = json["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "agent.verify")
        .unwrap()
        .clone();
    assert_eq!(verify["scope"], "project");
    // And `git -c` reaches the commands themselves.
    env.install_fake("codex");
    let script = env.script("agent", "exit 0");
    let mut env = env;
    env.set_env("GIT_AGENT_TEST_SCRIPT", script.to_str().unwrap());
    let out = agent_with(&env, &["agent.default=codex"], &["new", "--name", "d", "t"]).ok();
    assert!(out.stdout.contains("codex"), "{out}");
}

#[test]
fn events_stream_state_changes() {
    let env = TestEnv::new();
    env.spawn(&["--name", "e1", "t"], "exit 0");
    env.wait_state("e1", "done");
    let out = env.agent(&["events"]).ok();
    assert!(out.stdout.contains("  e1  created"), "{out}");
    assert!(out.stdout.contains("  e1  done"), "{out}");
    let json = env.agent(&["events", "--json", "-n", "1"]).ok();
    let last: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(last["session"], "e1");
    assert_eq!(last["version"], 1);
    // --follow sees a session live, to its end.
    env.spawn(
        &["--name", "e2", "t"],
        &format!("wait-for {}", env.path("go").display()),
    );
    env.wait_state("e2", "running");
    let follower = {
        let mut cmd = env.command("git", &env.repo);
        cmd.args([
            "agent",
            "events",
            "--follow",
            "--until-idle",
            "--json",
            "e2",
        ]);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    env.touch("go");
    let out = follower.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.iter().all(|e| e["session"] == "e2"), "{text}");
    assert!(events.iter().any(|e| e["state"] == "done"), "{text}");
}

#[test]
fn the_whole_lifecycle_runs_without_a_terminal_and_never_asks() {
    let mut env = TestEnv::new();
    env.write(".git-agent.toml", "verify = \"test -f w.txt\"\n");
    env.git(&["add", "."]);
    env.git(&["commit", "-qm", "project"]);
    // stdin is closed for every command of the harness; nothing may wait for an answer.
    let fake = env.fake("w", "write w.txt w\ncommit w");
    let mut args = vec!["new", "--name", "w", "-n", "2", "t"];
    args.extend(fake.iter().map(String::as_str));
    env.agent(&args).ok();
    env.agent(&["wait", "--all"]).ok();
    let out = env.agent(&["review", "--group", "w", "--verify"]).code(3);
    assert!(out.stderr.contains("--trust"), "{out}");
    env.agent(&["review", "--group", "w", "--verify", "--trust"])
        .ok();
    env.agent(&["review", "w-1"]).ok();
    env.agent(&["merge", "w-1", "--discard-others"]).ok();

    // Merged and discarded: nothing is left to clean, so nothing to ask about.
    let out = env.agent(&["clean"]).ok();
    assert!(out.stdout.contains("Nothing to clean."), "{out}");
    // GIT_AGENT_NONINTERACTIVE makes it explicit, whatever the terminal.
    env.set_env("GIT_AGENT_NONINTERACTIVE", "1");
    env.spawn(&["--name", "x", "t"], "exit 0");
    env.wait_state("x", "done");
    let out = env.agent(&["clean"]).code(3);
    assert!(out.stderr.contains("--yes"), "{out}");
    env.agent(&["clean", "--yes"]).ok();
    env.agent(&["doctor"]).ok();
}
