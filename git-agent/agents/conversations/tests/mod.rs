//! Stores laid out as the real CLIs lay them out (trimmed from files that claude 2.1.197,
//! codex 0.169.0, gemini 0.61.0, opencode 1.18.33 and aider 0.86.2 wrote through the agent
//! rig), and the carries checked against them.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::*;

mod aider;
mod claude;
mod codex;
mod gemini;
mod opencode;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

/// Writes `text` to `path` (creating directories) with modification time `at(secs)`.
fn put(path: &Path, text: &str, secs: u64) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(at(secs)).unwrap();
    path.to_owned()
}

fn lines(values: &[Value]) -> String {
    values.iter().map(|v| format!("{v}\n")).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn stores(home: &Path) -> Stores {
    let home = home.to_string_lossy().into_owned();
    Stores::new(move |k| (k == "HOME").then(|| home.clone()))
}

const NO_TOOL: Tool = Tool {
    program: "/nonexistent/opencode",
    env: &[],
};

#[test]
fn clis_come_from_formats_and_names() {
    for &cli in Cli::ALL {
        assert_eq!(Cli::parse(cli.name()), Some(cli));
    }
    assert_eq!(Cli::of(Format::Codex), Some(Cli::Codex));
    assert_eq!(Cli::of(Format::Text), None);
    assert_eq!(Cli::parse("Claude"), None);
}

#[test]
fn stores_follow_each_clis_own_variables() {
    let s = stores(Path::new("/h"));
    assert_eq!(s.claude, Path::new("/h/.claude"));
    assert_eq!(s.codex, Path::new("/h/.codex"));
    assert_eq!(s.gemini, Path::new("/h/.gemini"));
    assert_eq!(s.opencode, Path::new("/h/.local/share/opencode"));
    let s = Stores::new(|k| {
        Some(
            match k {
                "HOME" => "/h",
                "CLAUDE_CONFIG_DIR" => "/c",
                "CODEX_HOME" => "/x",
                "GEMINI_CLI_HOME" => "/g",
                "XDG_DATA_HOME" => "/d",
                _ => return None,
            }
            .to_owned(),
        )
    });
    assert_eq!(s.claude, Path::new("/c"));
    assert_eq!(s.codex, Path::new("/x"));
    assert_eq!(s.gemini, Path::new("/g/.gemini"));
    assert_eq!(s.opencode, Path::new("/d/opencode"));
    // An empty variable is unset, as for the CLIs.
    let s = Stores::new(|k| Some(if k == "HOME" { "/h" } else { "" }.to_owned()));
    assert_eq!(s.claude, Path::new("/h/.claude"));
}

#[test]
fn summaries_keep_the_newest_turns_within_the_cap() {
    let turns: Vec<Turn> = (0..100)
        .map(|i| {
            Turn::new(
                if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                },
                format!("turn {i} {}", "x".repeat(90)),
            )
            .unwrap()
        })
        .collect();
    let s = render(&turns);
    assert!(s.len() <= SUMMARY_CAP, "{}", s.len());
    assert!(s.ends_with(&format!("Assistant: turn 99 {}", "x".repeat(90))));
    assert!(!s.contains("turn 0 "));
    // One huge turn is clipped, not dropped.
    let huge = render(&[Turn::new(Role::User, "é".repeat(5000)).unwrap()]);
    assert!(huge.len() < TURN_CAP + 20 && huge.ends_with('…'));
}

#[test]
fn stores_never_show_the_values_of_the_runs_environment() {
    let env = vec![("OPENAI_API_KEY".to_owned(), "sk-secret".to_owned())];
    let s = stores(Path::new("/h")).with_opencode("opencode", &env);
    let shown = format!("{s:?}");
    assert!(
        shown.contains("OPENAI_API_KEY") && !shown.contains("sk-secret"),
        "{shown}"
    );
}
