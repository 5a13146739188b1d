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
