//! `git agent demo`: a guided run on a throw-away repository with scripted agents.
//!
//! The agents are small `sh` scripts run as "any command" agents (`-- sh -c SCRIPT`): they
//! read the task from `GIT_AGENT_PROMPT`, print progress, edit files, one commits by itself,
//! one fails. Every step runs the real `git agent` through git's own dispatch.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::error::Failure;
use crate::process::Cmd;
use crate::ui;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Create the demo repository here (must not exist) [default: a new temporary folder]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

const README: &str = "# greet\n\nA tiny program that greets people.\n";
const GREET: &str = "#!/bin/sh\necho \"Hello, ${1:-world}.\"\n";

const README_AGENT: &str = r#"echo "Task: $GIT_AGENT_PROMPT"
sleep 1
echo "Reading README.md and greet.sh..."
sleep 1
printf '\n## Usage\n\n    ./greet.sh [NAME]\n' >> README.md
echo "Added a Usage section to README.md (left uncommitted: git-agent commits it)""#;

const GREETING_AGENT: &str = r#"echo "Variant $GIT_AGENT_VARIANT of '$GIT_AGENT_GROUP': $GIT_AGENT_PROMPT"
sleep 1
if [ "$GIT_AGENT_VARIANT" = 1 ]; then words='Hi there'; else words='Good to see you'; fi
printf '#!/bin/sh\necho "%s, ${1:-friend}!"\n' "$words" > greet.sh
git add greet.sh && git commit -q -m "Make the greeting friendlier ($words)"
echo "Committed: $(git log -1 --format=%s)""#;

const BROKEN_AGENT: &str = r#"echo "Looking for config.yml..."
sleep 1
echo "error: config.yml not found; giving up" >&2
exit 3"#;

/// The tour: what each step shows, and the git command it runs (`agent …` runs this build).
const STEPS: &[(&str, &[&str])] = &[
    (
        "One agent, one task. `new` returns as soon as the agent runs:",
        &[
            "agent",
            "new",
            "--name",
            "readme",
            "add a usage section to the README",
            "--",
            "sh",
            "-c",
            README_AGENT,
        ],
    ),
    (
        "Two variants of one task, each in its own worktree and branch:",
        &[
            "agent",
            "new",
            "-n",
            "2",
            "--name",
            "greeting",
            "make the greeting friendlier",
            "--",
            "sh",
            "-c",
            GREETING_AGENT,
        ],
    ),
    (
        "An agent that fails:",
        &[
            "agent",
            "new",
            "--name",
            "broken",
            "read config.yml",
            "--",
            "sh",
            "-c",
            BROKEN_AGENT,
        ],
    ),
    ("What is running:", &["agent", "list"]),
    (
        "Wait for all of them (exit status 1: one failed):",
        &["agent", "wait", "--all"],
    ),
    ("What needs you comes first:", &["agent", "list"]),
    ("Why it failed:", &["agent", "logs", "broken"]),
    (
        "What an agent did, against its base (committed and uncommitted work alike):",
        &["agent", "review", "readme", "--stat"],
    ),
    (
        "The two variants, verified (agent.verify) and ranked:",
        &[
            "agent",
            "review",
            "--group",
            "greeting",
            "--verify",
            "--no-menu",
        ],
    ),
    (
        "Each variant's result is a branch:",
        &[
            "log",
            "--oneline",
            "--no-decorate",
            "main..agent/greeting-2",
        ],
    ),
    (
        "Work the agent left uncommitted was committed for it:",
        &["show", "--stat", "--format=%s%n%n%b", "agent/readme"],
    ),
    (
        "Would they conflict, with main or with each other? (merged in memory; exit 1: yes)",
        &["agent", "conflicts"],
    ),
    (
        "Land the winning variant; the other one goes (its branch is kept):",
        &["agent", "merge", "greeting-1", "--discard-others"],
    ),
    ("And the README work:", &["agent", "merge", "readme"]),
    (
        "main now holds both, one commit each:",
        &["log", "--oneline", "--no-decorate", "main"],
    ),
    ("What is left:", &["agent", "list", "--all"]),
];

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let exe = std::env::current_exe().context("could not find the git-agent executable")?;
    let bin_dir = exe.parent().map(Path::to_owned).unwrap_or_default();
    let top = folder(ctx, args.dir)?;
    let repo = top.join("greet");
    std::fs::create_dir_all(&repo)?;

    // Our own directory first on PATH, so `git agent` finds this very build.
    let mut path = vec![bin_dir];
    if let Some(p) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&p));
    }
    let path = std::env::join_paths(path)?;
    let demo = Demo {
        repo: repo.clone(),
        path,
    };

    writeln!(
        ctx.out,
        "{}",
        ui::bold(&format!("git-agent demo in {}", top.display()))
    )?;
    writeln!(
        ctx.out,
        "A throw-away repository with scripted agents; every command below is real.\n"
    )?;
    demo.setup()?;
    for (what, argv) in STEPS {
        demo.step(ctx, what, argv)?;
    }
    writeln!(ctx.out, "{}", ui::bold("That's it."))?;
    writeln!(
        ctx.out,
        "The demo repository is {}; its agent worktrees are next to it.",
        repo.display()
    )?;
    writeln!(
        ctx.out,
        "Look around (cd there and run 'git agent list'), then remove it all with:"
    )?;
    writeln!(
        ctx.out,
        "  rm -rf {}",
        shell_words::quote(&top.to_string_lossy())
    )?;
    Ok(0)
}

/// The demo's folder: `--dir` (created; it must not exist yet), else a new temporary one.
fn folder(ctx: &Ctx<'_>, dir: Option<PathBuf>) -> Result<PathBuf> {
    Ok(match dir {
        Some(dir) => {
            let dir = if dir.is_relative() {
                ctx.cwd.join(dir)
            } else {
                dir
            };
            if dir.exists() {
                return Err(
                    Failure::fatal(format!("'{}' already exists", dir.display()))
                        .hint("the demo creates a new folder; name one that does not exist yet")
                        .into(),
                );
            }
            std::fs::create_dir_all(&dir)?;
            dir
        }
        None => tempfile::Builder::new()
            .prefix("git-agent-demo-")
            .tempdir()?
            .keep(),
    })
}

struct Demo {
    repo: PathBuf,
    path: OsString,
}

impl Demo {
    fn git(&self) -> Cmd {
        crate::git::in_dir(&self.repo).env("PATH", &self.path)
    }

    fn setup(&self) -> Result<()> {
        let agents = self.repo.with_extension("agents");
        self.git().args(["init", "-q", "-b", "main"]).run()?;
        // Repository-local settings, so the demo works the same whatever the user's config says.
        for (key, value) in [
            ("user.name", "git-agent demo"),
            ("user.email", "demo@git-agent.invalid"),
            ("commit.gpgsign", "false"),
            ("agent.timeout", "5m"),
            ("agent.autoCommit", "true"),
            // The "tests" of the demo project: the greeting must start with "Hi".
            (
                "agent.verify",
                "sh greet.sh | grep -q '^Hi' || { echo \"expected a greeting starting with Hi\"; exit 1; }",
            ),
        ] {
            self.git().args(["config", key, value]).run()?;
        }
        self.git()
            .arg("config")
            .arg("agent.worktreeDir")
            .arg(&agents)
            .run()?;
        std::fs::write(self.repo.join("README.md"), README)?;
        std::fs::write(self.repo.join("greet.sh"), GREET)?;
        self.git().args(["add", "."]).run()?;
        self.git()
            .args(["commit", "-q", "-m", "Initial version"])
            .run()?;
        Ok(())
    }

    fn step(&self, ctx: &mut Ctx<'_>, title: &str, args: &[&str]) -> Result<()> {
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains('\n') {
                    "'…script…'".to_owned()
                } else {
                    shell_words::quote(a).into_owned()
                }
            })
            .collect();
        writeln!(ctx.out, "{}", ui::dim(&format!("# {title}")))?;
        writeln!(ctx.out, "$ git {}", shown.join(" "))?;
        ctx.out.flush()?;
        let status = self.git().args(args).status()?;
        // `wait`, `review --verify` and `conflicts` report with exit 1: part of the show.
        if !status.success() && !matches!(args.get(1), Some(&"wait" | &"review" | &"conflicts")) {
            return Err(
                Failure::fatal(format!("demo step failed: git {}", shown.join(" "))).into(),
            );
        }
        writeln!(ctx.out)?;
        Ok(())
    }
}
