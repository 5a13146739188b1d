//! The man pages in `man/man1/` are generated from the clap definitions and
//! `git_agent::cli::manual`; this fails when they are stale (`GIT_AGENT_BLESS=1` rewrites
//! them). And `git agent --help` opens ours.

use clap::CommandFactory as _;
use git_agent::cli::manual::{self, Sections};
use roff::{Roff, bold, italic, roman};

use crate::support::TestEnv;

/// A man page: clap_mangen's header, synopsis, description and options, then every
/// subcommand with its own options, then our sections.
fn render(mut cmd: clap::Command, bin: &str, sections: Sections) -> String {
    // Built, so every argument knows its number of values.
    cmd.build();
    let version = env!("CARGO_PKG_VERSION");
    let man = clap_mangen::Man::new(cmd.clone())
        .title(bin)
        .section("1")
        .source(format!("git-agent {version}"))
        .manual("Git Manual");
    let mut out = Vec::new();
    man.render_title(&mut out).unwrap();
    man.render_name_section(&mut out).unwrap();
    man.render_synopsis_section(&mut out).unwrap();
    man.render_description_section(&mut out).unwrap();
    man.render_options_section(&mut out).unwrap();
    let mut roff = Roff::new();
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if !subs.is_empty() {
        roff.control("SH", ["COMMANDS"]);
        let prefix = cmd.get_bin_name().unwrap_or(bin).to_owned();
        let prefix = prefix.strip_suffix(" merge").unwrap_or(&prefix).to_owned();
        // Depth first: a subcommand group (`plan`) is followed by its own subcommands.
        let mut queue: Vec<(String, &clap::Command)> = subs
            .into_iter()
            .rev()
            .map(|s| (format!("{prefix} {}", s.get_name()), s))
            .collect();
        while let Some((name, sub)) = queue.pop() {
            // (clap's generated `help` subcommand lists the others again: not repeated.)
            let children: Vec<&clap::Command> = sub
                .get_subcommands()
                .filter(|s| !s.is_hide_set() && sub.get_name() != "help")
                .collect();
            for child in children.into_iter().rev() {
                queue.push((format!("{name} {}", child.get_name()), child));
            }
            let usage = sub
                .clone()
                .bin_name(&name)
                .render_usage()
                .to_string()
                .trim_start_matches("Usage: ")
                .to_owned();
            roff.control("SS", [name.as_str()]);
            roff.text([roman(usage)]);
            let about = sub
                .get_long_about()
                .or(sub.get_about())
                .map(ToString::to_string)
                .unwrap_or_default();
            roff.control("PP", []);
            roff.text([roman(about)]);
            for arg in sub.get_arguments() {
                if arg.is_hide_set() || matches!(arg.get_id().as_str(), "help" | "version") {
                    continue;
                }
                roff.control("TP", []);
                roff.text(arg_term(arg));
                let help = arg
                    .get_long_help()
                    .or(arg.get_help())
                    .map(ToString::to_string)
                    .unwrap_or_default();
                roff.text([roman(help)]);
            }
        }
    }
    for (heading, text) in sections {
        roff.control("SH", [*heading]);
        section(&mut roff, text);
    }
    let mut page = String::from_utf8(out).unwrap();
    page.push_str(&roff.to_roff());
    page
}

/// `-n, --count <N>`, or `<NAME>...` for a positional.
fn arg_term(arg: &clap::Arg) -> Vec<roff::Inline> {
    let values: Vec<String> = arg
        .get_value_names()
        .map(|v| v.iter().map(|n| format!("<{n}>")).collect())
        .unwrap_or_default();
    let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
    let mut term = Vec::new();
    match (arg.get_short(), arg.get_long()) {
        (None, None) => {
            let name = values.join(" ");
            let many = if arg.get_num_args().is_some_and(|n| n.max_values() > 1) {
                "..."
            } else {
                ""
            };
            term.push(italic(format!("{name}{many}")));
            return term;
        }
        (Some(s), Some(l)) => term.push(bold(format!("-{s}, --{l}"))),
        (Some(s), None) => term.push(bold(format!("-{s}"))),
        (None, Some(l)) => term.push(bold(format!("--{l}"))),
    }
    if takes_value && !values.is_empty() {
        term.push(roman(" "));
        term.push(italic(values.join(" ")));
    }
    term
}

/// Renders the text format of `git_agent::cli::manual`.
fn section(roff: &mut Roff, text: &str) {
    let mut para: Vec<String> = Vec::new();
    let mut example = false;
    let flush = |roff: &mut Roff, para: &mut Vec<String>| {
        if !para.is_empty() {
            roff.text([roman(para.join(" "))]);
            para.clear();
        }
    };
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            flush(roff, &mut para);
            if !example {
                roff.control("PP", [])
                    .control("nf", [])
                    .control("RS", ["4"]);
                example = true;
            }
            roff.text([roman(format!("$ {cmd}"))]);
            continue;
        }
        if example {
            roff.control("RE", []).control("fi", []);
            example = false;
        }
        if line.trim().is_empty() {
            flush(roff, &mut para);
            roff.control("PP", []);
        } else if let Some(term) = line.strip_prefix("* ") {
            flush(roff, &mut para);
            roff.control("TP", []);
            roff.text([bold(term)]);
        } else {
            para.push(line.trim().to_owned());
        }
    }
    flush(roff, &mut para);
    if example {
        roff.control("RE", []).control("fi", []);
    }
}

fn pages() -> Vec<(&'static str, String)> {
    vec![
        (
            "git-agent.1",
            render(
                git_agent::cli::Cli::command(),
                "git-agent",
                manual::GIT_AGENT,
            ),
        ),
        (
            "git-agent-review.1",
            render(
                git_agent::cli::review::Cli::command(),
                "git-agent-review",
                manual::GIT_AGENT_REVIEW,
            ),
        ),
        (
            "git-agent-merge.1",
            render(
                git_agent::cli::merge::Cli::command(),
                "git-agent-merge",
                manual::GIT_AGENT_MERGE,
            ),
        ),
    ]
}

#[test]
fn man_pages_are_fresh() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/man1");
    let bless = std::env::var_os("GIT_AGENT_BLESS").is_some();
    for (file, page) in pages() {
        let path = dir.join(file);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &page).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == page,
            "man/man1/{file} is stale: regenerate with GIT_AGENT_BLESS=1 cargo test --test it man_pages"
        );
    }
}

#[test]
fn every_command_and_section_is_in_the_pages() {
    let pages = pages();
    let main = &pages[0].1;
    for sub in git_agent::cli::Cli::command().get_subcommands() {
        if !sub.is_hide_set() {
            assert!(
                main.contains(&format!("git agent {}", sub.get_name())),
                "{}",
                sub.get_name()
            );
        }
    }
    for heading in [
        "EXIT STATUS",
        "FILES",
        "ENVIRONMENT",
        "CONFIGURATION",
        "EXAMPLES",
        "SEE ALSO",
    ] {
        assert!(
            main.contains(&format!(".SH \"{heading}\""))
                || main.contains(&format!(".SH {heading}")),
            "{heading}"
        );
    }
    let merge = &pages[2].1;
    for sub in ["git agent conflicts", "git agent sync"] {
        assert!(merge.contains(sub), "{sub}");
    }
}

#[test]
fn git_agent_help_opens_our_page() {
    let env = TestEnv::new();
    // Through git, --help becomes `git help agent`: with a probe viewer it names the page.
    let mut cmd = env.command("git", &env.repo);
    cmd.args([
        "-c",
        "man.viewer=probe",
        "-c",
        "man.probe.cmd=echo",
        "agent",
        "--help",
    ]);
    let probe = env.run(cmd);
    assert_eq!(probe.stdout.trim(), "git-agent", "{probe}");
    // And man finds the page where the README installs it.
    if which::which("man").is_ok() {
        let man_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
        let mut cmd = env.command("man", &env.repo);
        cmd.args(["-w", "git-agent"]).env("MANPATH", &man_dir);
        let found = env.run(cmd);
        assert_eq!(
            found.stdout.trim(),
            man_dir.join("man1/git-agent.1").to_str().unwrap(),
            "{found}"
        );
    }
}

/// The README's set-up command puts the pages where `man` finds them next to the binaries,
/// without `MANPATH`: run its man part into a temporary `CARGO_HOME`.
#[test]
fn the_readme_install_puts_the_pages_where_man_finds_them() {
    let Ok(man) = which::which("man") else {
        return; // no man here: nothing to check
    };
    let env = TestEnv::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let setup = readme
        .lines()
        .find(|l| l.starts_with("cargo install"))
        .expect("the README starts with the set-up command");
    let man_part: Vec<&str> = setup
        .split("&&")
        .map(str::trim)
        .filter(|p| p.contains("share/man"))
        .collect();
    assert_eq!(man_part.len(), 2, "{setup}");
    let home = env.root().join("cargo-home");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_git-agent"), home.join("bin/git-agent"))
        .unwrap();
    let mut cmd = env.command("sh", root);
    cmd.args(["-c", &man_part.join(" && ")])
        .env("CARGO_HOME", &home);
    let out = env.run(cmd);
    assert_eq!(out.code, 0, "{out}");
    let mut cmd = env.command(&man, root);
    cmd.args(["-w", "git-agent"]).env_remove("MANPATH").env(
        "PATH",
        format!("{}:/usr/bin:/bin", home.join("bin").display()),
    );
    let found = env.run(cmd);
    assert_eq!(
        found.stdout.trim(),
        home.join("share/man/man1/git-agent.1").to_str().unwrap(),
        "{found}"
    );
}
