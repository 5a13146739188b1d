//! What `new --runner docker|podman` records: the engine found on PATH, the image
//! (`agent.image`, else the `image` of `.devcontainer/devcontainer.json` at the base commit),
//! the workspace (`mount`, or `clone`: required where the engine's host, `DOCKER_HOST` or
//! `CONTAINER_HOST`, is not a local socket), that host, the network, limits and the names of
//! the host variables passed in.
//!
//! An image the repository names is code the repository chose to run, so it is trust-gated
//! like a `.git-agent.toml` command ([`image_to_trust`]); the user's own `agent.image` is not.

use std::path::PathBuf;

use anyhow::Result;

use crate::agents::Profile;
use crate::error::Failure;
use crate::git::repo::Config;
use crate::project::ProjectCommand;
use crate::session::{ContainerRecord, RunnerRecord, Workspace};

use super::Engine;

/// Where a repository names its development container.
pub const DEVCONTAINER: &str = ".devcontainer/devcontainer.json";

/// Where the image came from when the user named it.
const FROM_CONFIG: &str = "agent.image";

/// The record for `engine` (`docker` or `podman`): the engine must be on PATH; the image is
/// `agent.image`, else left empty for [`resolve_image`] (it needs the base commit).
pub fn choose(config: &Config, engine: &str) -> Result<ContainerRecord> {
    if which::which(engine).is_err() {
        return Err(
            Failure::fatal(format!("--runner {engine}: '{engine}' not found in PATH"))
                .hint(format!(
                    "install {engine}, or run the agent here with --runner local"
                ))
                .into(),
        );
    }
    let host = std::env::var(Engine::host_variable(engine))
        .ok()
        .filter(|h| !h.trim().is_empty());
    let workspace = match config.string("agent.runner.workspace").as_deref() {
        None | Some("" | "mount") => Workspace::Mount,
        Some("clone") => Workspace::Clone,
        Some(other) => {
            return Err(Failure::usage(format!(
                "agent.runner.workspace '{other}' is not a workspace"
            ))
            .hint("mount (the worktree mounted, the default) or clone (a clone of its own)")
            .into());
        }
    };
    let clone_from = clone_from(config, workspace)?;
    if workspace == Workspace::Mount
        && let Some(host) = host.as_deref().filter(|h| is_remote(h))
    {
        // A bind mount names a path on the engine's machine: there, not here.
        return Err(Failure::fatal(format!(
            "--runner {engine}: the engine is at {host}, where this worktree cannot be mounted"
        ))
        .hint("give the container a clone of its own: git config agent.runner.workspace clone")
        .into());
    }
    let (image, image_source) = match config.string("agent.image") {
        Some(image) if !image.trim().is_empty() => (image.trim().to_owned(), FROM_CONFIG),
        _ => (String::new(), DEVCONTAINER),
    };
    let mut env: Vec<String> = Vec::new();
    for name in config.strings("agent.runner.env") {
        valid_env_name(&name)?;
        if !env.contains(&name) {
            env.push(name);
        }
    }
    let nonempty = |key: &str| config.string(key).filter(|v| !v.trim().is_empty());
    Ok(ContainerRecord {
        engine: engine.to_owned(),
        host,
        image,
        image_source: image_source.to_owned(),
        workspace,
        clone_from,
        network: nonempty("agent.runner.network"),
        cpus: nonempty("agent.runner.cpus"),
        memory: nonempty("agent.runner.memory"),
        env,
        container: None,
    })
}

/// `agent.runner.cloneFrom`: a remote of this repository (its URL) or a URL, for clone mode
/// only.
fn clone_from(config: &Config, workspace: Workspace) -> Result<Option<String>> {
    let Some(from) = config
        .string("agent.runner.cloneFrom")
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
    else {
        return Ok(None);
    };
    if workspace != Workspace::Clone {
        return Err(Failure::usage(format!(
            "agent.runner.cloneFrom '{from}' needs a clone of its own"
        ))
        .hint("git config agent.runner.workspace clone")
        .into());
    }
    let url = config.string(&format!("remote.{from}.url")).unwrap_or(from);
    Ok(Some(url))
}

/// Whether the engine at `host` (`DOCKER_HOST`'s form) runs on another machine: anything but
/// a local socket.
fn is_remote(host: &str) -> bool {
    !(host.starts_with("unix://") || host.starts_with('/') || host.starts_with("npipe://"))
}

fn valid_env_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(
            Failure::usage(format!("agent.runner.env: '{name}' is not a variable name"))
                .hint("name host variables to pass in, one per value: git config --add agent.runner.env ANTHROPIC_API_KEY")
                .into(),
        )
    }
}

/// Fills in the image from `.devcontainer/devcontainer.json` at `commit` where `agent.image`
/// named none; an error naming both where neither does.
pub fn resolve_image(
    record: &mut ContainerRecord,
    repo: &gix::Repository,
    commit: &str,
) -> Result<()> {
    if !record.image.is_empty() {
        return Ok(());
    }
    let text = crate::project::file_at_commit(repo, commit, DEVCONTAINER)?;
    let image = match text {
        Some(text) => devcontainer_image(&text).map_err(|e| {
            Failure::fatal(format!(
                "{DEVCONTAINER} at {}: {e}",
                crate::session::short_id(commit)
            ))
            .hint("fix it, or name the image yourself: git config agent.image IMAGE")
        })?,
        None => None,
    };
    match image {
        Some(image) => {
            record.image = image;
            record.image_source = DEVCONTAINER.to_owned();
            Ok(())
        }
        None => Err(Failure::fatal(format!(
            "--runner {}: no image: agent.image is not set and {DEVCONTAINER} names none",
            record.engine
        ))
        .hint("name the image: git config agent.image IMAGE")
        .hint(format!("or commit a {DEVCONTAINER} with an \"image\""))
        .into()),
    }
}

/// What the user approves before an image the repository named runs (nothing for theirs,
/// nothing for another runner).
fn image_to_trust(record: &RunnerRecord) -> Option<ProjectCommand> {
    match record {
        RunnerRecord::Container(c) if c.image_source == DEVCONTAINER => Some(
            ProjectCommand::from_plan("image", c.image.clone(), DEVCONTAINER),
        ),
        _ => None,
    }
}

/// The image `.devcontainer/devcontainer.json` at `commit` names, as `git agent trust` shows
/// it for approval; nothing where `agent.image` names the image (or the file names none).
pub fn devcontainer_to_trust(
    config: &Config,
    repo: &gix::Repository,
    commit: &str,
) -> Option<ProjectCommand> {
    if config
        .string("agent.image")
        .is_some_and(|i| !i.trim().is_empty())
    {
        return None;
    }
    let text = crate::project::file_at_commit(repo, commit, DEVCONTAINER).ok()??;
    let image = devcontainer_image(&text).ok()??;
    Some(ProjectCommand::from_plan("image", image, DEVCONTAINER))
}

/// A container record made whole for `new`: its image from the base commit where the user
/// named none, and the variables the agents' CLIs read their keys from added to the
/// allowlist; with the image to approve first if the repository named it. Any other runner
/// passes unchanged.
pub fn complete(
    runner: Option<RunnerRecord>,
    repo: &gix::Repository,
    commit: &str,
    profiles: &[(Profile, PathBuf, u32)],
) -> Result<(Option<RunnerRecord>, Option<ProjectCommand>)> {
    let Some(RunnerRecord::Container(mut record)) = runner else {
        return Ok((runner, None));
    };
    resolve_image(&mut record, repo, commit)?;
    for (profile, _, _) in profiles {
        for name in profile_env(&profile.name) {
            if !record.env.iter().any(|n| n == name) {
                record.env.push((*name).to_owned());
            }
        }
    }
    let record = RunnerRecord::Container(record);
    let image = image_to_trust(&record);
    Ok((Some(record), image))
}

/// The `image` of a devcontainer.json (JSON with comments and trailing commas); `None` for
/// one that builds its image instead (a Dockerfile, compose), which we do not.
pub fn devcontainer_image(text: &str) -> std::result::Result<Option<String>, String> {
    let json: serde_json::Value =
        serde_json::from_str(&strip_jsonc(text)).map_err(|e| e.to_string())?;
    Ok(json
        .get("image")
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned))
}

/// JSONC to JSON: comments (`//`, `/* */`) and trailing commas out, strings untouched.
fn strip_jsonc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for n in chars.by_ref() {
                    if last == '*' && n == '/' {
                        break;
                    }
                    last = n;
                }
            }
            _ => out.push(c),
        }
    }
    drop_trailing_commas(&out)
}

fn drop_trailing_commas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            escaped = !escaped && c == '\\';
            in_string = escaped || c != '"';
            out.push(c);
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c == ',' {
            let next = text[i + 1..].trim_start().chars().next();
            if matches!(next, Some('}' | ']')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The host variables a built-in agent's CLI reads its credentials from, passed into its
/// container when set (on top of `agent.runner.env`).
pub fn profile_env(profile: &str) -> &'static [&'static str] {
    match profile {
        "claude" => &["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"],
        "codex" => &["OPENAI_API_KEY"],
        "gemini" => &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        "opencode" | "aider" => &["ANTHROPIC_API_KEY", "OPENAI_API_KEY"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::devcontainer_image;

    #[test]
    fn reads_the_image_of_jsonc() {
        let text = "{\n  // the dev image\n  \"name\": \"a // b\", /* x */\n  \"image\": \"mcr/dev:1\",\n}\n";
        assert_eq!(
            devcontainer_image(text).unwrap().as_deref(),
            Some("mcr/dev:1")
        );
        assert_eq!(devcontainer_image("{\"build\":{}}").unwrap(), None);
        assert!(devcontainer_image("{").is_err());
    }
}
