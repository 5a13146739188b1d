//! Opt-in tier: the real agent CLIs, driven by `git agent` against a scripted fake model
//! server (`tests/real-agents/fake_llm.py`) on 127.0.0.1, fully offline.
//!
//! Runs only with `GIT_AGENT_REAL_AGENTS=1` (or a comma-separated list of CLIs), for each of
//! claude, codex, gemini, opencode and aider found on `PATH`; anything missing is skipped with
//! a printed reason. For every CLI: `git agent new` → `done` with the session id (and cost
//! where the CLI reports one) → `git agent send` resumes the same session → both runs'
//! changes are committed on the session's branch. Isolation is checked as a real model would
//! test it: `git agent` runs from the main checkout (with the shell's `PWD`), the fake model
//! writes where the CLI *says* it works (its fallback is the main checkout), every directory
//! a CLI states must be the session's worktree, nothing may appear in the main checkout, an
//! attempt to write into the main checkout by absolute path must fail, and the write
//! sandbox in force must be ours (Landlock) or, for codex's own sandboxed mode, codex's.
//!
//! Capacity (issue 14): claude and codex meet a model that answers HTTP 429 until the CLI
//! gives up; the session ends that run `rate-limited` and resumes its own conversation by
//! itself to `done`. And `new -n 3 --agent opencode` in a fresh home ends with three `done`
//! (the built-in profile starts its sessions one at a time: OpenCode's first starts migrate
//! its database, and two at once can fail one with `Failed query: CREATE TABLE workspace`).
//!
//! Plans (issue 15): `plan draft` with each CLI in its read-only mode and our sandbox off: the
//! model's attempt to write into the checkout is refused by the mode alone, and its plan is
//! written and checked.
//!
//! `.ci/run` installs the pinned CLIs (`tests/real-agents/install.sh`) and runs this tier.
//!
//! ```sh
//! GIT_AGENT_REAL_AGENTS=1 cargo test --test it real_agents -- --nocapture
//! ```

#![allow(clippy::disallowed_methods)] // starts the fake model server directly

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::TestEnv;

const CLIS: &[&str] = &["claude", "codex", "gemini", "opencode", "aider"];
const FAKE_KEY: &str = "fake-key-not-secret";

/// Which CLIs to run, or why none.
pub(crate) fn selected() -> Result<Vec<&'static str>, String> {
    let Ok(wanted) = std::env::var("GIT_AGENT_REAL_AGENTS") else {
        return Err(
            "set GIT_AGENT_REAL_AGENTS=1 (or a list such as claude,codex) to run the real CLIs"
                .into(),
        );
    };
    if wanted.trim().is_empty() || wanted == "0" {
        return Err("GIT_AGENT_REAL_AGENTS is empty".into());
    }
    if which::which("python3").is_err() {
        return Err("python3 (for the fake model server) is not on PATH".into());
    }
    let all = matches!(wanted.as_str(), "1" | "all" | "yes");
    Ok(CLIS
        .iter()
        .copied()
        .filter(|c| all || wanted.split(',').any(|w| w.trim() == *c))
        .collect())
}

pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(env: &TestEnv, cli: &str, fallback_cwd: &Path) -> Server {
    // A second conversation for the follow-up; Claude must read a file before overwriting
    // it, codex edits by shell (its sandbox allows it), the others rewrite the file.
    let append = match cli {
        "claude" => format!(
            r#"{{"read": "hello.txt"}}, {{"text": "Appending.", "write": "hello.txt", "content": "hello from {cli}\nsecond line from {cli}\n"}}"#
        ),
        "codex" => format!(
            r#"{{"text": "Appending.", "shell": "echo 'second line from {cli}' >> hello.txt"}}"#
        ),
        _ => format!(
            r#"{{"text": "Appending.", "write": "hello.txt", "content": "hello from {cli}\nsecond line from {cli}\n"}}"#
        ),
    };
    // The first turn tries to escape into the main checkout: the CLI's own rules (or the
    // sandbox) must refuse it. Aider gets no such turn (it only edits files of its
    // repository), nor does OpenCode, which ends the whole run when it refuses a write
    // outside its directory; both meet the kernel in the bypass-mode session below.
    let escape = if matches!(cli, "aider" | "opencode") {
        String::new()
    } else {
        format!(
            r#"{{"text": "Also noting it.", "write": "{}", "content": "escaped\n"}},"#,
            escape_path(env).display()
        )
    };
    let bypass_escape = env.repo.join("escaped-in-bypass.txt");
    let bypass_escape = bypass_escape.display();
    let script = format!(
        r#"{{"conversations": [
  {{"match": "Create a file hello.txt", "turns": [
    {escape}
    {{"text": "I'll create hello.txt.", "write": "hello.txt", "content": "hello from {cli}\n"}},
    {{"text": "Created hello.txt containing 'hello from {cli}'."}}]}},
  {{"match": "Append the line", "turns": [{append}, {{"text": "Appended."}}]}},
  {{"match": "Escape test", "turns": [
    {{"text": "Writing outside.", "write": "{bypass_escape}", "content": "escaped\n"}},
    {{"text": "Done."}}]}}
], "commit_message": "Apply scripted change"}}"#
    );
    serve(env, &script, fallback_cwd)
}

/// Starts the fake model server playing `script` (see `fake_llm.py`'s doc).
pub(crate) fn serve(env: &TestEnv, script: &str, fallback_cwd: &Path) -> Server {
    let script_path = env.path("fake-llm-script.json");
    std::fs::write(&script_path, script).unwrap();
    let port_file = env.path("fake-llm.port");
    let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/real-agents/fake_llm.py");
    let child = Command::new("python3")
        .arg(server)
        .arg("--script")
        .arg(&script_path)
        .arg("--port-file")
        .arg(&port_file)
        .arg("--log")
        .arg(env.path("fake-llm.log"))
        .arg("--timeout")
        .arg("600")
        .arg("--cwd")
        .arg(fallback_cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fake_llm.py");
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file)
            && !p.trim().is_empty()
        {
            break p.trim().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the fake model server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// Points the CLI at the fake server through its environment and config files in the
/// isolated HOME, the way the rig does; the argv stays git-agent's own.
pub(crate) fn configure(env: &mut TestEnv, cli: &str, program: &Path, base: &str) {
    let mut path = vec![program.parent().unwrap().to_owned()];
    if let Ok(node) = which::which("node") {
        path.push(node.parent().unwrap().to_owned());
    }
    let current = env.env_value("PATH");
    path.extend(std::env::split_paths(&current));
    env.set_env(
        "PATH",
        std::env::join_paths(path).unwrap().to_str().unwrap(),
    );
    for (k, v) in [
        ("TERM", "dumb"),
        ("NO_PROXY", "127.0.0.1,localhost"),
        ("no_proxy", "127.0.0.1,localhost"),
    ] {
        env.set_env(k, v);
    }
    let home = env.home.clone();
    match cli {
        "claude" => {
            for (k, v) in [
                ("ANTHROPIC_BASE_URL", base),
                ("ANTHROPIC_API_KEY", FAKE_KEY),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
                ("DISABLE_TELEMETRY", "1"),
                ("DISABLE_AUTOUPDATER", "1"),
                ("DISABLE_ERROR_REPORTING", "1"),
            ] {
                env.set_env(k, v);
            }
        }
        "codex" => {
            let codex_home = home.join(".codex");
            std::fs::create_dir_all(&codex_home).unwrap();
            std::fs::write(
                codex_home.join("config.toml"),
                format!(
                    "model = \"gpt-5.5\"\nmodel_provider = \"fake\"\ncheck_for_update_on_startup = false\n\
                     [model_providers.fake]\nname = \"fake\"\nbase_url = \"{base}/v1\"\nenv_key = \"FAKE_LLM_API_KEY\"\nwire_api = \"responses\"\n\
                     [analytics]\nenabled = false\n[features]\nplugins = false\nremote_plugin = false\nin_app_updates = false\n"
                ),
            )
            .unwrap();
            env.set_env("CODEX_HOME", codex_home.to_str().unwrap());
            env.set_env("FAKE_LLM_API_KEY", FAKE_KEY);
        }
        "gemini" => {
            std::fs::create_dir_all(home.join(".gemini")).unwrap();
            std::fs::write(
                home.join(".gemini/settings.json"),
                r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}, "privacy": {"usageStatisticsEnabled": false}, "general": {"disableAutoUpdate": true, "disableUpdateNag": true}}"#,
            )
            .unwrap();
            env.set_env("GOOGLE_GEMINI_BASE_URL", base);
            env.set_env("GEMINI_API_KEY", FAKE_KEY);
        }
        "opencode" => {
            let config = format!(
                r#"{{"provider": {{"fake": {{"npm": "@ai-sdk/openai-compatible", "name": "Fake", "options": {{"baseURL": "{base}/v1", "apiKey": "{FAKE_KEY}"}}, "models": {{"fake-model": {{"name": "Fake", "tool_call": true, "cost": {{"input": 1, "output": 2}}, "limit": {{"context": 200000, "output": 16384}}}}}}}}}}, "model": "fake/fake-model", "small_model": "fake/fake-model", "autoupdate": false, "share": "disabled"}}"#
            );
            env.set_env("OPENCODE_CONFIG_CONTENT", &config);
            for k in [
                "OPENCODE_DISABLE_MODELS_FETCH",
                "OPENCODE_DISABLE_DEFAULT_PLUGINS",
                "OPENCODE_DISABLE_AUTOUPDATE",
                "OPENCODE_DISABLE_LSP_DOWNLOAD",
                "OPENCODE_DISABLE_SHARE",
            ] {
                env.set_env(k, "1");
            }
            env.set_env("npm_config_registry", "http://127.0.0.1:9/");
        }
        "aider" => {
            // Aider writes an identity into the repository's config when git config has
            // none (the test's comes from the environment); the sandbox keeps `.git/config`
            // closed, so give it one, as a user's ~/.gitconfig would.
            let global = env.home.join(".gitconfig");
            let mut text = std::fs::read_to_string(&global).unwrap();
            text.push_str("[user]\n\tname = Test Author\n\temail = author@example.com\n");
            std::fs::write(&global, text).unwrap();
            let metadata = env.path("aider-model-metadata.json");
            std::fs::write(
                &metadata,
                r#"{"openai/fake-model": {"max_input_tokens": 200000, "max_output_tokens": 16384, "input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002, "litellm_provider": "openai", "mode": "chat"}}"#,
            )
            .unwrap();
            for (k, v) in [
                ("OPENAI_API_BASE", format!("{base}/v1")),
                ("OPENAI_API_KEY", FAKE_KEY.to_owned()),
                ("AIDER_MODEL", "openai/fake-model".to_owned()),
                (
                    "AIDER_MODEL_METADATA_FILE",
                    metadata.to_string_lossy().into_owned(),
                ),
                ("AIDER_SHOW_MODEL_WARNINGS", "false".to_owned()),
                ("LITELLM_LOCAL_MODEL_COST_MAP", "True".to_owned()),
            ] {
                env.set_env(k, &v);
            }
        }
        _ => unreachable!("{cli}"),
    }
}

/// Where the first turn tries to write: the main checkout.
fn escape_path(env: &TestEnv) -> PathBuf {
    env.repo.join("escaped.txt")
}

/// Every working directory the CLI stated to the model, from the fake server's request log
/// (the patterns the server itself reads).
fn stated_dirs(env: &TestEnv) -> Vec<String> {
    let log = std::fs::read_to_string(env.path("fake-llm.log")).unwrap_or_default();
    let mut dirs = Vec::new();
    for line in log.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if !entry["kind"].as_str().is_some_and(|k| k.ends_with("-main")) {
            continue;
        }
        let text = entry.to_string().replace("\\n", " ").replace("\\\"", " ");
        for marker in [
            "Working directory:",
            "working directory:",
            "<cwd>",
            "**Workspace Directories:**",
        ] {
            for part in text.split(marker).skip(1) {
                let part = part.trim_start();
                let dir: String = part
                    .strip_prefix("- ")
                    .unwrap_or(part)
                    .chars()
                    .take_while(|c| !c.is_whitespace() && !matches!(c, '<' | '"' | '\\'))
                    .collect();
                let dir = dir.strip_suffix('.').unwrap_or(&dir).to_owned();
                if dir.starts_with('/') && !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
    }
    dirs
}

/// Isolation after a run: nothing in the main checkout, and every directory stated was the
/// session's worktree.
fn assert_isolated(env: &TestEnv, cli: &str, worktree: &Path, show: &str) {
    assert!(
        !escape_path(env).exists(),
        "{cli}: wrote into the main checkout by absolute path:\n{show}"
    );
    assert_eq!(
        env.git(&["status", "--porcelain", "--untracked-files=all"]),
        "",
        "{cli}: the main checkout changed:\n{show}"
    );
    for dir in stated_dirs(env) {
        assert_eq!(
            Path::new(&dir),
            worktree,
            "{cli} told the model it works in {dir}"
        );
    }
}

fn run_one(cli: &str, program: PathBuf) {
    let mut env = TestEnv::new();
    let worktree = env.agents_dir().join("x");
    // A CLI that does not state its directory gets the fake model's fallback: the main
    // checkout, as a model guessing from the user's shell would.
    let server = start_server(&env, cli, &env.repo.clone());
    configure(&mut env, cli, &program, &server.base);
    // As a shell sets them when the user runs `git agent` from the repository root.
    let repo = env.repo.to_string_lossy().into_owned();
    env.set_env("PWD", &repo);
    let home = env.home.display().to_string();
    env.set_env("OLDPWD", &home);

    let task = format!("Create a file hello.txt containing exactly: hello from {cli}");
    env.agent(&["new", "--agent", cli, "--name", "x", &task])
        .ok();
    let waited = env.agent(&["wait", "--timeout", "5m", "x"]);
    let show = env.agent(&["show", "x"]);
    assert_eq!(
        waited.code, 0,
        "{cli}: run 1 did not end done:\n{waited}\n{show}"
    );
    let made = env.run({
        let mut cmd = env.command("git", &env.repo);
        cmd.args(["show", "agent/x:hello.txt"]);
        cmd
    });
    assert_eq!(
        made.stdout,
        format!("hello from {cli}\n"),
        "{cli}: {made}\n{show}\n{}",
        env.agent(&["logs", "x", "--raw"]).stdout
    );
    assert_isolated(&env, cli, &worktree, &show.to_string());
    let first = env.record("x");
    let sandbox = first["sandbox"]["in_force"]["kind"]
        .as_str()
        .unwrap_or_default();
    let expected = if cli == "codex" { "agent" } else { "landlock" };
    assert!(
        sandbox == expected || sandbox == "none",
        "{cli}: sandbox {sandbox}, expected {expected}:\n{show}"
    );
    let session_id = first["agent_session_id"].as_str().map(str::to_owned);
    assert_eq!(
        session_id.is_some(),
        cli != "aider",
        "{cli}: session id {session_id:?}"
    );
    if matches!(cli, "claude" | "opencode" | "aider") {
        assert!(
            first["runs"][0]["outcome"]["usage"]["cost_usd"]
                .as_f64()
                .is_some(),
            "{cli}: no cost:\n{show}"
        );
    }

    let follow_up = format!("Append the line 'second line from {cli}' to hello.txt");
    env.agent(&["send", "x", &follow_up]).ok();
    let waited = env.agent(&["wait", "--timeout", "5m", "x"]);
    let show = env.agent(&["show", "x"]);
    assert_eq!(
        waited.code, 0,
        "{cli}: run 2 did not end done:\n{waited}\n{show}"
    );
    assert_isolated(&env, cli, &worktree, &show.to_string());
    let r = env.record("x");
    assert_eq!(r["runs"][1]["resumed"], true, "{cli}");
    assert_eq!(
        r["agent_session_id"].as_str().map(str::to_owned),
        session_id,
        "{cli}: the session changed"
    );
    assert_eq!(
        env.git(&["show", "agent/x:hello.txt"]),
        format!("hello from {cli}\nsecond line from {cli}\n"),
        "{cli}"
    );
    assert_eq!(
        env.git_in(&worktree, &["status", "--porcelain"]),
        "",
        "{cli}: left uncommitted changes"
    );
    let version = Command::new(&program)
        .arg("--version")
        .env("HOME", &env.home)
        .output();
    let version = version.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    });
    let kernel = bypass_escape(&env, cli);
    eprintln!(
        "real agent {cli} ({}): new -> done, send -> resumed, committed; stated {:?}; sandbox {}; {kernel}",
        version.unwrap_or_default(),
        stated_dirs(&env),
        r["sandbox"]["in_force"]["detail"]
    );
}

/// In the CLI's mode that asks nothing (where it has one), a write into the main checkout by
/// absolute path meets only the kernel sandbox, which must refuse it.
fn bypass_escape(env: &TestEnv, cli: &str) -> String {
    let Some(mode) = (match cli {
        "claude" | "codex" | "opencode" => Some("bypass"),
        "gemini" => Some("yolo"),
        _ => None,
    }) else {
        return "no bypass mode".into();
    };
    env.agent(&[
        "new",
        "--agent",
        cli,
        "--permission-mode",
        mode,
        "--name",
        "esc",
        "Escape test: write outside",
    ])
    .ok();
    let waited = env.agent(&["wait", "--timeout", "5m", "esc"]);
    let show = env.agent(&["show", "esc"]).stdout;
    let logs = env.agent(&["logs", "esc", "--raw"]).stdout;
    let kind = env.record("esc")["sandbox"]["in_force"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if kind == "none" {
        return "no Landlock on this kernel: the bypass escape was not tried".into();
    }
    assert_eq!(kind, "landlock", "{cli} in {mode}: {show}");
    assert!(
        !env.repo.join("escaped-in-bypass.txt").exists(),
        "{cli} in {mode} wrote into the main checkout:\n{waited}\n{show}\n{logs}"
    );
    format!("{mode}: the kernel refused the escape")
}

#[test]
fn real_agent_clis_work_end_to_end() {
    let clis = match selected() {
        Ok(clis) => clis,
        Err(why) => {
            eprintln!("skipped real-agent tests: {why}");
            return;
        }
    };
    for cli in clis {
        match which::which(cli) {
            Ok(program) => run_one(cli, program),
            Err(_) => eprintln!("skipped {cli}: not on PATH"),
        }
    }
}

/// The model requests of the agents' main loops in the fake server's log.
pub(crate) fn model_requests(env: &TestEnv) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.path("fake-llm.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["kind"].as_str().is_some_and(|k| k.ends_with("-main")))
        .collect()
}

/// Which CLIs to run among `clis`, printing why any is skipped.
pub(crate) fn installed(clis: &[&'static str]) -> Vec<(&'static str, PathBuf)> {
    let selected = match selected() {
        Ok(selected) => selected,
        Err(why) => {
            eprintln!("skipped real-agent tests: {why}");
            return Vec::new();
        }
    };
    clis.iter()
        .filter(|cli| selected.contains(cli))
        .filter_map(|&cli| match which::which(cli) {
            Ok(program) => Some((cli, program)),
            Err(_) => {
                eprintln!("skipped {cli}: not on PATH");
                None
            }
        })
        .collect()
}

/// The model answers the task with HTTP 429 every time, in the provider's own words, so the
/// CLI retries by itself and gives up; the session ends that run `rate-limited` and resumes its
/// own conversation by itself (run 2, kind `retry`), where the model now writes the file.
///
/// Claude Code retries a 429 ten times with backoff up to ~35 s (over three minutes), so it
/// runs with `CLAUDE_CODE_MAX_RETRIES=2`, its own setting for that budget; codex's five
/// reconnects follow `retry-after`, which is 0 here.
fn rate_limited_then_done(cli: &str, program: &Path) {
    let started = Instant::now();
    let mut env = TestEnv::new();
    let task = format!("Create a file hello.txt containing exactly: hello from {cli}");
    let script = format!(
        r#"{{"conversations": [
  {{"match": "interrupted by a rate limit", "turns": [
    {{"text": "Creating it now.", "write": "hello.txt", "content": "hello from {cli}\n"}},
    {{"text": "Created hello.txt."}}]}},
  {{"match": "Create a file hello.txt", "turns": [
    {{"error": {{"status": 429, "times": 1000000, "retry_after": 0}}}}]}}
], "commit_message": "Apply scripted change"}}"#
    );
    let server = serve(&env, &script, &env.repo.clone());
    configure(&mut env, cli, program, &server.base);
    if cli == "claude" {
        env.set_env("CLAUDE_CODE_MAX_RETRIES", "2");
    }
    env.git(&["config", "agent.retry.base", "2s"]);
    env.agent(&["new", "--agent", cli, "--name", "x", &task])
        .ok();
    let limited = env.wait_state("x", "rate-limited");
    let limited_after = started.elapsed();
    assert_eq!(limited["retry"]["attempt"], 1, "{cli}: {limited:#}");
    let waited = env.agent(&["wait", "--timeout", "3m", "x"]);
    let show = env.agent(&["show", "x"]);
    let logs = env.agent(&["logs", "x", "--raw"]).stdout;
    assert_eq!(
        waited.code, 0,
        "{cli}: did not end done:\n{waited}\n{show}\n{logs}"
    );
    let r = env.record("x");
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{cli}: {r:#}");
    assert_eq!(runs[0]["state"], "rate-limited", "{cli}: {r:#}");
    assert_eq!(runs[1]["kind"], "retry", "{cli}: {r:#}");
    assert_eq!(
        runs[1]["resumed"], true,
        "{cli}: its own conversation: {r:#}"
    );
    let id = r["agent_session_id"].as_str().unwrap_or_default();
    assert!(
        !id.is_empty() && runs[1]["args"].to_string().contains(id),
        "{cli}: resumed {id:?}: {r:#}"
    );
    assert_eq!(
        env.git(&["show", "agent/x:hello.txt"]),
        format!("hello from {cli}\n"),
        "{cli}: {show}"
    );
    // What the model saw: the CLI's own retries of the task, all answered 429, then the
    // resumed conversation, which still holds the task.
    let requests = model_requests(&env);
    let limited_requests = requests
        .iter()
        .filter(|e| e["matched"] == "Create a file hello.txt")
        .count();
    let resumed: Vec<&serde_json::Value> = requests
        .iter()
        .filter(|e| e["matched"] == "interrupted by a rate limit")
        .collect();
    assert!(
        limited_requests > 1,
        "{cli}: the CLI did not retry by itself ({limited_requests} requests)"
    );
    assert!(!resumed.is_empty(), "{cli}: no resumed request");
    assert!(
        resumed[0]["body"]
            .to_string()
            .contains("Create a file hello.txt"),
        "{cli}: the resumed conversation lost the task: {:#}",
        resumed[0]
    );
    eprintln!(
        "real agent {cli}: 429 x{limited_requests} (the CLI's own retries) -> rate-limited after \
         {:.1}s -> retry run resumed {id}, the task in its history -> done after {:.1}s",
        limited_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn real_agents_resume_their_own_conversation_after_a_rate_limit() {
    for (cli, program) in installed(&["claude", "codex"]) {
        rate_limited_then_done(cli, &program);
    }
}

/// `new -n 3 --agent opencode` in a fresh home: OpenCode migrates its SQLite database on a
/// first start, and two first starts at once can break one of them; the built-in profile
/// starts its sessions one at a time. Returns each session's state and reason (asserted
/// `done` when `serially`), and prints the runs' start and end times.
fn opencode_three_in_a_fresh_home(program: &Path, serially: bool) -> Vec<(String, String)> {
    let started = Instant::now();
    let mut env = TestEnv::new();
    let script = r#"{"conversations": [
  {"match": "Create a file hello.txt", "turns": [
    {"text": "I'll create hello.txt.", "write": "hello.txt", "content": "hello from opencode\n"},
    {"text": "Created hello.txt."}]}
], "commit_message": "Apply scripted change"}"#;
    let server = serve(&env, script, &env.repo.clone());
    configure(&mut env, "opencode", program, &server.base);
    // Every folder OpenCode keeps state in, new and empty: its database is made on this start.
    let home = env.home.clone();
    for (var, dir) in [
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_CONFIG_HOME", ".config"),
    ] {
        env.set_env(var, home.join(dir).to_str().unwrap());
    }
    assert!(!home.join(".local/share/opencode").exists());
    if !serially {
        env.git(&["config", "agent.profile.opencode.startSerially", "false"]);
    }
    let task = "Create a file hello.txt containing exactly: hello from opencode";
    env.agent(&["new", "-n", "3", "--agent", "opencode", "--name", "o", task])
        .ok();
    env.agent(&["wait", "--all", "--timeout", "5m"]);
    let list = env.agent(&["list", "--json"]).ok().json();
    let at = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_millisecond())
    };
    let first = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| at(&s["runs"][0]["started_at"]))
        .min()
        .unwrap_or_default();
    let mut states = Vec::new();
    for name in ["o-1", "o-2", "o-3"] {
        let r = env.record(name);
        let state = r["state"].as_str().unwrap_or_default().to_owned();
        let reason = r["reason"].as_str().unwrap_or_default().to_owned();
        let span = |k: &str| at(&r["runs"][0][k]).map(|t| (t - first) as f64 / 1000.0);
        eprintln!(
            "opencode {name} (startSerially {serially}): {state} {reason}; run from {:?}s to {:?}s",
            span("started_at"),
            span("ended_at")
        );
        if serially {
            let logs = env.agent(&["logs", name, "--raw"]).stdout;
            assert_eq!(state, "done", "{name}: {r:#}\n{logs}");
            assert_eq!(
                env.git(&["show", &format!("agent/{name}:hello.txt")]),
                "hello from opencode\n",
                "{name}"
            );
        } else if state != "done" {
            let logs = env.agent(&["logs", name, "--raw"]).stdout;
            eprintln!("{name}'s output:\n{logs}");
        }
        states.push((state, reason));
    }
    eprintln!(
        "opencode -n 3 in a fresh home (startSerially {serially}): {:.1}s",
        started.elapsed().as_secs_f64()
    );
    states
}

/// With `GIT_AGENT_REAL_UNSTAGGERED=N` it also starts them together, `N` times, and prints
/// what happened (whether a new OpenCode still needs the staggering); nothing is asserted.
#[test]
fn real_opencode_starts_three_sessions_in_a_fresh_home() {
    for (_, program) in installed(&["opencode"]) {
        opencode_three_in_a_fresh_home(&program, true);
        let together = std::env::var("GIT_AGENT_REAL_UNSTAGGERED")
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        let failed = (0..together)
            .filter(|_| {
                opencode_three_in_a_fresh_home(&program, false)
                    .iter()
                    .any(|(state, _)| state != "done")
            })
            .count();
        if together > 0 {
            eprintln!(
                "opencode started 3 at once in a fresh home: {failed} of {together} times a session failed"
            );
        }
    }
}

/// `plan draft` with each real CLI in its read-only mode: the model first tries to write into
/// the checkout (the CLI's mode must refuse it: our sandbox is off here), then answers with a plan in
/// a ```toml block, which is written, checked and shown; the checkout holds only the plan file.
fn draft_a_plan(cli: &str, program: &Path) {
    let mut env = TestEnv::new();
    let plan = "name = \"greeting\"\n\n[[task]]\nid = \"hello\"\nprompt = \"Write hello.txt\"\n\
                touches = [\"hello.txt\"]\n\n[[task]]\nid = \"docs\"\ndepends_on = [\"hello\"]\n\
                prompt = \"Document it: {{ deps }}\"\ntouches = [\"README.md\"]";
    let answer = format!("Here is the plan:\n\n```toml\n{plan}\n```");
    let script = serde_json::json!({"conversations": [
        {"match": "Greet the world", "turns": [
            {"text": "Let me note the plan.", "write": "draft-escape.txt", "content": "escaped\n"},
            {"text": answer},
        ]},
        {"match": "Wave at the world", "turns": [{"text": answer}]},
    ]})
    .to_string();
    let server = serve(&env, &script, &env.repo.clone());
    configure(&mut env, cli, program, &server.base);
    let repo = env.repo.to_string_lossy().into_owned();
    env.set_env("PWD", &repo);
    // Without our sandbox: the CLI's read-only mode alone must refuse the write.
    env.git(&["config", "agent.sandbox", "off"]);
    let mut out = env.agent(&["plan", "draft", "--agent", cli, "Greet the world"]);
    if cli == "opencode" {
        // OpenCode ends its whole run at a refused permission: no plan then (exit 128), and
        // nothing written; asked again without the write, it answers.
        assert_eq!(out.code, 128, "{cli}: {out}");
        assert!(!env.repo.join("draft-escape.txt").exists(), "{cli}: {out}");
        assert_eq!(env.git(&["status", "--porcelain"]), "", "{cli}: {out}");
        out = env.agent(&["plan", "draft", "--agent", cli, "Wave at the world"]);
    }
    let requests = model_requests(&env).len();
    assert_eq!(out.code, 0, "{cli}: {out}\n{requests} model requests");
    assert!(
        out.stdout
            .contains("Plan 'greeting' is valid: 2 tasks in 2 waves"),
        "{cli}: {out}"
    );
    assert!(
        !env.repo.join("draft-escape.txt").exists(),
        "{cli} wrote into the checkout while drafting:\n{out}"
    );
    // Aider's ask mode edits nothing but still writes its repository map's cache in the
    // worktree (it has no setting for where): only our sandbox, off here, keeps it out.
    let status: String = env
        .git(&["status", "--porcelain", "--untracked-files=all"])
        .lines()
        .filter(|l| !(cli == "aider" && l.starts_with("?? .aider.tags.cache.")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(status, "?? plans/greeting.toml\n", "{cli}: {out}");
    eprintln!(
        "real agent {cli}: plan draft -> valid plan, the write refused by its mode; {}",
        out.stderr.lines().next().unwrap_or_default()
    );
}

#[test]
fn real_agents_draft_a_plan_without_touching_the_checkout() {
    for (cli, program) in installed(CLIS) {
        draft_a_plan(cli, &program);
    }
}
