//! `git agent profiles`: the agent profiles this repository can use, where each comes from,
//! whether its program is installed, its permission mode, and whether it can resume.

use anyhow::Result;
use std::path::PathBuf;

use serde::Serialize;

use super::{Ctx, Format, OutputArgs};
use crate::agents::{self, Profiles};
use crate::ui;

#[derive(Debug, clap::Args)]
#[command(mut_args(super::reword("json", |a| a.help("Print the profiles as JSON"))))]
pub struct Args {
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `profiles --json`.
#[derive(Serialize)]
struct Doc {
    profiles: Vec<ProfileDoc>,
}

/// A profile in `profiles --json`.
#[derive(Serialize)]
struct ProfileDoc {
    name: String,
    source: &'static str,
    program: String,
    /// Where the program was found on PATH (null: not installed).
    found: Option<PathBuf>,
    permission_mode: Option<String>,
    bypass: bool,
    resume: bool,
    format: agents::output::Format,
    prompt_via: &'static str,
    leaves: Vec<String>,
    modes: Vec<ModeDoc>,
    default: bool,
}

/// A built-in permission mode in `profiles --json`.
#[derive(Serialize)]
struct ModeDoc {
    name: &'static str,
    bypass: bool,
    /// Cannot edit files: `plan draft` runs the profile in it.
    read_only: bool,
    about: &'static str,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let config = repo.config();
    // The repository's own profiles, as .git-agent.toml has them at HEAD.
    let project = match repo.resolve_base(None) {
        Ok(head) => crate::project::ProjectFile::at_commit(repo.gix(), &head.commit)?,
        Err(_) => None,
    };
    let profiles = Profiles::load(&config)?.with_project(project.as_ref());
    let default = config.string("agent.default");
    let mut rows = Vec::new();
    let mut docs = Vec::new();
    for name in profiles.names() {
        let profile = match profiles.find(&name, None) {
            Ok(p) => p,
            Err(err) => {
                ctx.warn(&format!("profile '{name}': {err:#}"))?;
                continue;
            }
        };
        let program = profile.resolve_program().ok();
        let modes = agents::builtin_modes(&profile.name);
        docs.push(ProfileDoc {
            name: profile.name.clone(),
            source: profile.source,
            program: profile.program.clone(),
            found: program.clone(),
            permission_mode: profile.permission_mode.clone(),
            bypass: profile.bypass,
            resume: profile.resume.is_some(),
            format: profile.format,
            prompt_via: profile.prompt_via.as_str(),
            leaves: profile.leaves.clone(),
            modes: modes
                .iter()
                .map(|m| ModeDoc {
                    name: m.name,
                    bypass: m.bypass,
                    read_only: m.read_only,
                    about: m.about,
                })
                .collect(),
            default: default.as_deref() == Some(profile.name.as_str()),
        });
        let mut mode = profile
            .permission_mode
            .clone()
            .unwrap_or_else(|| "-".into());
        if profile.bypass {
            mode = format!("{mode} {}", ui::warning("(bypass)"));
        }
        let name = if default.as_deref() == Some(profile.name.as_str()) {
            format!("{name} *")
        } else {
            name
        };
        rows.push(vec![
            name,
            profile.source.to_owned(),
            program.map_or_else(
                || ui::dim(&format!("{} (not found)", profile.program)),
                |p| p.display().to_string(),
            ),
            mode,
            if profile.resume.is_some() {
                "yes".into()
            } else {
                "no".into()
            },
            profile.format.as_str().to_owned(),
        ]);
    }
    if args.output.format() == Format::Json {
        ctx.write_doc(&Doc { profiles: docs })?;
        return Ok(0);
    }
    write!(
        ctx.out,
        "{}",
        ui::table(
            &["PROFILE", "SOURCE", "PROGRAM", "MODE", "RESUME", "FORMAT"],
            &rows
        )
    )?;
    writeln!(
        ctx.out,
        "\nPermission modes of the built-in profiles (choose with --permission-mode or"
    )?;
    writeln!(ctx.out, "git config agent.profile.<name>.permissionMode):")?;
    for name in agents::DETECT_ORDER {
        for mode in agents::builtin_modes(name) {
            let tag = if mode.bypass {
                format!(" {}", ui::warning("(bypass)"))
            } else if mode.read_only {
                " (read-only: plan draft)".to_owned()
            } else {
                String::new()
            };
            writeln!(ctx.out, "  {name:<8} {:<16} {}{tag}", mode.name, mode.about)?;
        }
    }
    if default.is_some() {
        writeln!(ctx.out, "\n* agent.default")?;
    }
    Ok(0)
}
