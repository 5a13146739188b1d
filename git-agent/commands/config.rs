//! `git agent config`: every `agent.*` setting in effect, and where it comes from (built-in
//! default, system/global/local/worktree config, `git -c`, or `.git-agent.toml`).
//!
//! Git itself says where each value comes from (`git config --show-scope --show-origin`, which
//! sees `git -c` through `GIT_CONFIG_PARAMETERS`); the project file is read at HEAD, as `new`
//! reads it at the base commit.

use anyhow::Result;
use serde::Serialize;

use super::{Ctx, Format, OutputArgs};
use crate::git::repo::Repo;
use crate::ui;

#[derive(Debug, clap::Args)]
#[command(mut_args(super::reword("json", |a| a.help("Print the settings as JSON"))))]
pub struct Args {
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The keys git-agent reads, and what applies when they are not set.
pub const KEYS: &[(&str, &str)] = &[
    (
        "agent.default",
        "the first of claude, codex, gemini, opencode, aider on PATH",
    ),
    (
        "agent.reviewer",
        "review --ai: the first installed agent other than the one that wrote the code",
    ),
    ("agent.worktreeDir", "../<repo>.agents"),
    ("agent.branchPrefix", "agent/"),
    ("agent.timeout", "none"),
    ("agent.stopGrace", "10s"),
    ("agent.autoCommit", "true"),
    ("agent.setup", "none"),
    ("agent.run", "none"),
    ("agent.verify", "none"),
    ("agent.ports", "0"),
    ("agent.submodules", "true when there are any"),
    ("agent.lfs", "smudge"),
    (
        "agent.remote",
        "the upstream's remote, origin, or the only one",
    ),
    ("agent.allowTemp", "false"),
    ("agent.mergeStrategy", "squash"),
    ("agent.syncStrategy", "merge"),
    ("agent.cleanOlderThan", "none"),
    ("agent.sandbox", "auto"),
    ("agent.sandbox.allowWrite", "none"),
    ("agent.maxParallel", "no limit"),
    ("agent.maxRunTime", "none"),
    ("agent.budget", "none"),
    ("agent.budget.total", "none"),
    ("agent.runner", "local"),
    (
        "agent.image",
        "the image of .devcontainer/devcontainer.json (container runners)",
    ),
    ("agent.runner.workspace", "mount"),
    ("agent.runner.network", "the engine's default"),
    ("agent.runner.cpus", "no limit"),
    ("agent.runner.memory", "no limit"),
    ("agent.runner.env", "the agent's API key variables"),
    ("agent.retry.max", "5"),
    ("agent.retry.base", "30s"),
    ("agent.notify", "on"),
    (
        "agent.notify.on",
        "waiting, failed, rate-limited, over-budget, done, blocked, validated, landed",
    ),
    (
        "agent.notifyCommand",
        "none (a desktop notification where a session bus exists)",
    ),
    ("agent.notifyTimeout", "30s"),
];

/// Keys `.git-agent.toml` may set (project settings, approved before their commands run).
const PROJECT_KEYS: &[(&str, &str)] = &[
    ("setup", "agent.setup"),
    ("run", "agent.run"),
    ("verify", "agent.verify"),
    ("ports", "agent.ports"),
    ("submodules", "agent.submodules"),
    ("lfs", "agent.lfs"),
    ("max_parallel", "agent.maxParallel"),
];

/// One value in effect (or a default).
#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `default`, `system`, `global`, `local`, `worktree`, `command` (git -c), `project`.
    pub scope: String,
    /// The file (or `command line:`) it comes from; for a default, what applies.
    pub origin: String,
    /// A later value of the same key wins over this one.
    pub overridden: bool,
    /// A key git-agent does not know (a typo?).
    pub unknown: bool,
}

/// The canonical spelling of a known key (git lowercases them).
fn canonical(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|(k, _)| *k)
        .find(|k| k.eq_ignore_ascii_case(key))
}

fn known_profile_key(key: &str) -> bool {
    // `agent.price.<model>.input|output|cached`: a model's token prices.
    if let Some(rest) = key.strip_prefix("agent.price.") {
        let field = rest.rsplit('.').next().unwrap_or("");
        return rest.contains('.')
            && ["input", "output", "cached"].contains(&field.to_ascii_lowercase().as_str());
    }
    let Some(rest) = key.strip_prefix("agent.profile.") else {
        return false;
    };
    let field = rest.rsplit('.').next().unwrap_or("");
    [
        "command",
        "program",
        "arg",
        "resume",
        "prompt",
        "format",
        "leaves",
        "env",
        "permissionmode",
        "bypass",
        "sandboxwrite",
        "maxparallel",
        "startserially",
    ]
    .contains(&field.to_ascii_lowercase().as_str())
}

pub fn settings(repo: &Repo) -> Result<Vec<Setting>> {
    let out = repo
        .git()
        .args([
            "config",
            "--show-scope",
            "--show-origin",
            "-z",
            "--get-regexp",
            r"^agent\.",
        ])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut found: Vec<Setting> = Vec::new();
    let mut fields = text.split('\0');
    while let (Some(scope), Some(origin), Some(kv)) = (fields.next(), fields.next(), fields.next())
    {
        if scope.is_empty() {
            break;
        }
        let (key, value) = kv.split_once('\n').unwrap_or((kv, ""));
        let (key, unknown) = match canonical(key) {
            Some(k) => (k.to_owned(), false),
            None => (key.to_owned(), !known_profile_key(key)),
        };
        found.push(Setting {
            key,
            value: Some(value.to_owned()),
            scope: scope.to_owned(),
            origin: origin.to_owned(),
            overridden: false,
            unknown,
        });
    }
    // Git lists in reading order: the last value of a single-valued key wins.
    for i in 0..found.len() {
        let multi = ["arg", "env", "leaves"].iter().any(|f| {
            found[i]
                .key
                .to_ascii_lowercase()
                .ends_with(&format!(".{f}"))
        });
        if !multi {
            found[i].overridden = found[i + 1..]
                .iter()
                .any(|later| later.key.eq_ignore_ascii_case(&found[i].key));
        }
    }
    // The project file fills in what git config does not set.
    let head = repo
        .git()
        .args(["rev-parse", "--verify", "-q", "HEAD"])
        .run()
        .ok();
    let project = head
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .and_then(|h| {
            crate::project::ProjectFile::at_commit(repo.gix(), h)
                .ok()
                .flatten()
        });
    let mut settings = Vec::new();
    for (key, default) in KEYS {
        let set: Vec<Setting> = found.iter().filter(|s| s.key == *key).cloned().collect();
        if !set.is_empty() {
            settings.extend(set);
            continue;
        }
        let from_project = PROJECT_KEYS
            .iter()
            .find(|(_, k)| k == key)
            .and_then(|(field, _)| project.as_ref().and_then(|p| p.value_of(field)));
        settings.push(match from_project {
            Some(value) => Setting {
                key: (*key).to_owned(),
                value: Some(value),
                scope: "project".into(),
                origin: ".git-agent.toml at HEAD (its commands run once approved: git agent trust)"
                    .into(),
                overridden: false,
                unknown: false,
            },
            None => Setting {
                key: (*key).to_owned(),
                value: None,
                scope: "default".into(),
                origin: (*default).to_owned(),
                overridden: false,
                unknown: false,
            },
        });
    }
    settings.extend(found.into_iter().filter(|s| canonical(&s.key).is_none()));
    // The one-time hint of a notification that went nowhere (see `notify.rs`).
    if crate::notify::skipped_path(&repo.state()).exists() && !crate::notify::desktop_bus() {
        for s in settings.iter_mut() {
            if s.key == "agent.notifyCommand" && s.scope == "default" {
                s.origin = "none, and no desktop session bus here: notifications go nowhere (set this, or agent.notify=off)".into();
            }
        }
    }
    Ok(settings)
}

/// `config --json`.
#[derive(Serialize)]
struct Doc<'a> {
    settings: &'a [Setting],
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let settings = settings(&repo)?;
    if args.output.format() == Format::Json {
        ctx.write_doc(&Doc {
            settings: &settings,
        })?;
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = settings
        .iter()
        .map(|s| {
            let value = match &s.value {
                Some(v) if s.overridden => ui::dim(&format!("{v} (overridden)")),
                Some(v) => v.clone(),
                None => ui::dim(&s.origin),
            };
            let from = match s.scope.as_str() {
                "default" => ui::dim("default"),
                "command" => "git -c".to_owned(),
                "project" => ".git-agent.toml".to_owned(),
                scope => format!(
                    "{scope} ({})",
                    s.origin.strip_prefix("file:").unwrap_or(&s.origin)
                ),
            };
            vec![s.key.clone(), value, from]
        })
        .collect();
    write!(ctx.out, "{}", ui::table(&["KEY", "VALUE", "FROM"], &rows))?;
    for s in settings.iter().filter(|s| s.unknown) {
        ctx.warn(&format!(
            "{} is not a setting git-agent knows (a typo?), set in {}",
            s.key, s.origin
        ))?;
    }
    Ok(0)
}
