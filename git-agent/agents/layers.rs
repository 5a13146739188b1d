//! Building a profile from its layers, later ones overriding earlier ones: the built-in
//! profile of that name, a repository's `.git-agent.toml` (`[profile.NAME]`, which the user
//! must approve), the user's profiles file, then git config `agent.profile.NAME.*`; and the
//! default profile when `--agent` is not given.
//!
//! Owns reading those layers and checking their values (in git's voice). It must not run the
//! agent, nor let a repository's layer widen the sandbox (`sandboxWrite` is refused there).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Deserialize;

use super::builtins::{Builtin, DETECT_ORDER, Mode, builtin, mode_env};
use super::output::Format;
use super::{Profile, PromptVia};
use crate::error::Failure;
use crate::git::repo::Config;

/// One layer of a profile definition (profiles file or git config).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    #[serde(default)]
    command: Option<Words>,
    #[serde(default)]
    program: Option<String>,
    #[serde(default, alias = "arg")]
    args: Vec<String>,
    #[serde(default)]
    resume: Option<Words>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    leaves: Vec<String>,
    #[serde(default, alias = "sandboxWrite", alias = "sandbox-write")]
    sandbox_write: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default, alias = "permissionMode", alias = "permission-mode")]
    permission_mode: Option<String>,
    #[serde(default)]
    bypass: Option<bool>,
    #[serde(default, alias = "maxParallel", alias = "max-parallel")]
    max_parallel: Option<u32>,
    #[serde(default, alias = "startSerially", alias = "start-serially")]
    start_serially: Option<bool>,
}

/// A command line given as one string (split like a shell would) or as a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Words {
    Line(String),
    List(Vec<String>),
}

impl Words {
    fn split(&self, key: &str) -> Result<Vec<String>> {
        match self {
            Self::List(words) => Ok(words.clone()),
            Self::Line(line) => shell_words::split(line)
                .map_err(|e| Failure::fatal(format!("bad config value for '{key}': {e}")).into()),
        }
    }
}

/// Profile definitions outside git config: `$XDG_CONFIG_HOME/git-agent/profiles.toml`.
#[derive(Debug, Default)]
pub struct ProfilesFile {
    path: Option<PathBuf>,
    profiles: BTreeMap<String, Layer>,
}

impl ProfilesFile {
    /// Where the file lives: `$XDG_CONFIG_HOME/git-agent/profiles.toml`, else
    /// `~/.config/git-agent/profiles.toml`.
    pub fn default_path() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("git-agent").join("profiles.toml"))
    }

    /// Reads the file; a missing file is an empty one.
    pub fn load() -> Result<Self> {
        let Some(path) = Self::default_path() else {
            return Ok(Self::default());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
        };
        let profiles: BTreeMap<String, Layer> = toml::from_str(&text).map_err(|e| {
            Failure::fatal(format!("{}: {}", path.display(), e.to_string().trim_end())).hint(
                "each profile is a table, e.g. [my-agent] with command = \"my-agent --headless\"",
            )
        })?;
        Ok(Self {
            path: Some(path),
            profiles,
        })
    }

    fn names(&self) -> impl Iterator<Item = &String> {
        self.profiles.keys()
    }
}

fn config_layer(config: &Config, name: &str) -> Result<Option<Layer>> {
    if !config.subsections("profile").iter().any(|p| p == name) {
        return Ok(None);
    }
    let key = |k: &str| format!("agent.profile.{name}.{k}");
    let env = config
        .strings(&key("env"))
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(
                Failure::fatal(format!("bad config value '{kv}' for '{}'", key("env")))
                    .hint("use KEY=VALUE")
                    .into(),
            ),
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    Ok(Some(Layer {
        command: config.string(&key("command")).map(Words::Line),
        program: config.string(&key("program")),
        args: config.strings(&key("arg")),
        resume: config.string(&key("resume")).map(Words::Line),
        prompt: config.string(&key("prompt")),
        format: config.string(&key("format")),
        leaves: config.strings(&key("leaves")),
        sandbox_write: config.strings(&key("sandboxWrite")),
        env,
        permission_mode: config.string(&key("permissionMode")),
        bypass: config.boolean(&key("bypass"))?,
        max_parallel: config.cap(&key("maxParallel"))?,
        start_serially: config.boolean(&key("startSerially"))?,
    }))
}

/// Builds profiles from the layers.
pub struct Profiles<'a> {
    config: &'a Config,
    file: ProfilesFile,
    /// Profiles from `.git-agent.toml` at the base commit: (table, the text to approve).
    project: BTreeMap<String, (toml::Table, String)>,
}

impl<'a> Profiles<'a> {
    /// Reads the profiles file; git config is read as needed.
    pub fn load(config: &'a Config) -> Result<Self> {
        Ok(Self {
            config,
            file: ProfilesFile::load()?,
            project: BTreeMap::new(),
        })
    }

    /// Adds the profiles a repository defines (they need the user's approval to run).
    #[must_use]
    pub fn with_project(mut self, project: Option<&crate::project::ProjectFile>) -> Self {
        if let Some(p) = project {
            for (name, table) in &p.profile {
                let text = p.profile_text(name).unwrap_or_default();
                self.project.insert(name.clone(), (table.clone(), text));
            }
        }
        self
    }

    /// Every profile name known: built-ins, the profiles file, git config.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = DETECT_ORDER.iter().map(|s| (*s).to_owned()).collect();
        for n in self
            .project
            .keys()
            .cloned()
            .chain(self.file.names().cloned())
            .chain(self.config.subsections("profile"))
        {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
    }

    /// Finds a profile by name. `mode` overrides the profile's permission mode.
    pub fn find(&self, name: &str, mode: Option<&str>) -> Result<Profile> {
        let base = builtin(name);
        let project_layer = match self.project.get(name) {
            Some((table, text)) => {
                let layer: Layer = toml::Value::Table(table.clone()).try_into().map_err(|e| {
                    Failure::fatal(format!("{} [profile.{name}]: {e}", crate::project::FILE))
                })?;
                // Only the user widens the sandbox, never the repository (an agent could
                // have written the file on a branch that becomes a base).
                if !layer.sandbox_write.is_empty() {
                    return Err(Failure::fatal(format!(
                        "{} [profile.{name}]: 'sandboxWrite' is not allowed in a repository's file",
                        crate::project::FILE
                    ))
                    .hint(format!(
                        "add it to your own config instead: git config --add agent.profile.{name}.sandboxWrite PATH"
                    ))
                    .into());
                }
                Some((layer, text.clone()))
            }
            None => None,
        };
        let file_layer = self.file.profiles.get(name);
        let config_layer = config_layer(self.config, name)?;
        if base.is_none()
            && project_layer.is_none()
            && file_layer.is_none()
            && config_layer.is_none()
        {
            return Err(Failure::fatal(format!("unknown agent profile '{name}'"))
                .hint(format!("known profiles: {}", self.names().join(", ")))
                .hint(format!(
                    "define one with: git config agent.profile.{name}.command PROGRAM"
                ))
                .into());
        }
        let mut draft = Draft::new(name, base);
        if let Some((layer, text)) = &project_layer {
            draft.apply(layer, &format!("{} [profile.{name}]", crate::project::FILE))?;
            draft.source = "project";
            draft.project_text = Some(text.clone());
        }
        if let Some(layer) = file_layer {
            let origin = self
                .file
                .path
                .as_ref()
                .map_or_else(|| "profiles file".to_owned(), |p| p.display().to_string());
            draft.apply(layer, &format!("{origin} [{name}]"))?;
        }
        if let Some(layer) = &config_layer {
            draft.apply(layer, &format!("agent.profile.{name}"))?;
        }
        if let Some(mode) = mode {
            draft.mode = Some(mode.to_owned());
        }
        draft.finish()
    }

    /// The profile to use when `--agent` is not given: `agent.default`, else the first
    /// built-in whose program is on `PATH`.
    pub fn default_profile(&self, mode: Option<&str>) -> Result<Profile> {
        if let Some(name) = self.config.string("agent.default") {
            return self.find(&name, mode);
        }
        for name in DETECT_ORDER {
            let profile = self.find(name, mode)?;
            if which::which(&profile.program).is_ok() || Path::new(&profile.program).is_absolute() {
                return Ok(profile);
            }
        }
        Err(Failure::fatal("no agent found")
            .hint(format!("looked for {} in PATH", DETECT_ORDER.join(", ")))
            .hint(
                "choose one with --agent NAME, set a default with 'git config agent.default NAME',",
            )
            .hint("or run any command: git agent new \"task\" -- COMMAND [ARGS...]")
            .into())
    }
}

/// A profile being assembled from its layers.
pub(super) struct Draft {
    name: String,
    source: &'static str,
    program: String,
    args: Vec<String>,
    resume: Option<Vec<String>>,
    prompt_via: PromptVia,
    format: Format,
    env: Vec<(String, String)>,
    leaves: Vec<String>,
    sandbox_writes: Vec<String>,
    modes: &'static [Mode],
    mode: Option<String>,
    bypass: Option<bool>,
    project_text: Option<String>,
    max_parallel: Option<u32>,
    start_serially: bool,
}

impl Draft {
    pub(super) fn new(name: &str, base: Option<&'static Builtin>) -> Self {
        match base {
            Some(b) => Self {
                name: name.to_owned(),
                source: "builtin",
                program: b.program.to_owned(),
                args: b.args.iter().map(|a| (*a).to_owned()).collect(),
                resume: b
                    .resume
                    .map(|r| r.iter().map(|a| (*a).to_owned()).collect()),
                prompt_via: if b.name == "opencode" {
                    PromptVia::Stdin
                } else {
                    PromptVia::Arg
                },
                format: b.format,
                env: b
                    .env
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                leaves: b.leaves.iter().map(|l| (*l).to_owned()).collect(),
                sandbox_writes: Vec::new(),
                modes: b.modes,
                mode: Some(b.default_mode.to_owned()),
                bypass: None,
                project_text: None,
                max_parallel: None,
                start_serially: b.start_serially,
            },
            None => Self {
                name: name.to_owned(),
                source: "config",
                program: String::new(),
                args: Vec::new(),
                resume: None,
                prompt_via: PromptVia::Arg,
                format: Format::Text,
                env: Vec::new(),
                leaves: Vec::new(),
                sandbox_writes: Vec::new(),
                modes: &[],
                mode: None,
                bypass: None,
                project_text: None,
                max_parallel: None,
                start_serially: false,
            },
        }
    }

    fn apply(&mut self, layer: &Layer, origin: &str) -> Result<()> {
        if let Some(command) = &layer.command {
            let mut words = command.split(&format!("{origin}.command"))?;
            if words.is_empty() {
                return Err(Failure::fatal(format!("'{origin}.command' is empty")).into());
            }
            self.program = words.remove(0);
            self.args = words;
            // A replaced command line takes its modes and resume line with it.
            self.source = "config";
            self.modes = &[];
            self.mode = None;
            self.resume = None;
        }
        if let Some(program) = &layer.program {
            self.program.clone_from(program);
            if self.source == "builtin" {
                self.source = "config";
            }
        }
        self.args.extend(layer.args.iter().cloned());
        if let Some(resume) = &layer.resume {
            let words = resume.split(&format!("{origin}.resume"))?;
            self.resume = (!words.is_empty()).then_some(words);
        }
        if let Some(p) = &layer.prompt {
            self.prompt_via = PromptVia::parse(p, &format!("{origin}.prompt"))?;
        }
        if let Some(f) = &layer.format {
            self.format = Format::parse(f).ok_or_else(|| {
                let known: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
                Failure::fatal(format!("bad config value '{f}' for '{origin}.format'"))
                    .hint(format!("use one of: {}", known.join(", ")))
            })?;
        }
        self.leaves.extend(layer.leaves.iter().cloned());
        for entry in &layer.sandbox_write {
            if !(entry.starts_with('/') || entry.starts_with("~/")) {
                return Err(Failure::fatal(format!(
                    "bad value '{entry}' for '{origin}.sandboxWrite'"
                ))
                .hint("give an absolute path, or one starting with ~/ (a trailing / for a folder)")
                .into());
            }
            self.sandbox_writes.push(entry.clone());
        }
        for (k, v) in &layer.env {
            self.env.retain(|(key, _)| key != k);
            self.env.push((k.clone(), v.clone()));
        }
        if let Some(m) = &layer.permission_mode {
            self.mode = Some(m.clone());
        }
        if layer.bypass.is_some() {
            self.bypass = layer.bypass;
        }
        if let Some(n) = layer.max_parallel {
            if n == 0 {
                return Err(Failure::fatal(format!(
                    "bad value '0' for '{origin}.maxParallel': it must be at least 1"
                ))
                .into());
            }
            self.max_parallel = Some(n);
        }
        if let Some(serially) = layer.start_serially {
            self.start_serially = serially;
        }
        Ok(())
    }

    pub(super) fn finish(self) -> Result<Profile> {
        if self.program.is_empty() {
            return Err(
                Failure::fatal(format!("profile '{}' has no command", self.name))
                    .hint(format!(
                        "set it with: git config agent.profile.{}.command PROGRAM",
                        self.name
                    ))
                    .into(),
            );
        }
        let mut env = self.env;
        let (mode_args, bypass, read_only): (Vec<String>, bool, bool) = if self.modes.is_empty() {
            (Vec::new(), self.bypass.unwrap_or(false), false)
        } else {
            let name = self.mode.as_deref().unwrap_or_default();
            let mode = self.modes.iter().find(|m| m.name == name).ok_or_else(|| {
                let known: Vec<&str> = self.modes.iter().map(|m| m.name).collect();
                Failure::fatal(format!(
                    "'{name}' is not a permission mode of {}",
                    self.name
                ))
                .hint(format!("modes of {}: {}", self.name, known.join(", ")))
            })?;
            let root = nix::unistd::geteuid().is_root();
            let extra = mode_env(&self.name, mode.name).iter().chain(if root {
                mode.root_env
            } else {
                &[]
            });
            env.extend(extra.map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            (
                mode.args.iter().map(|a| (*a).to_owned()).collect(),
                mode.bypass || self.bypass.unwrap_or(false),
                // `bypass = true` set by the user on a read-only mode wins: not read-only.
                mode.read_only && !self.bypass.unwrap_or(false),
            )
        };
        let expand = |template: Vec<String>| -> Vec<String> {
            template
                .into_iter()
                .flat_map(|a| {
                    if a == "{mode}" {
                        mode_args.clone()
                    } else {
                        vec![a]
                    }
                })
                .collect()
        };
        Ok(Profile {
            name: self.name,
            source: self.source,
            program: self.program,
            args: expand(self.args),
            resume: self.resume.map(expand),
            prompt_via: self.prompt_via,
            format: self.format,
            env,
            leaves: self.leaves,
            sandbox_writes: self.sandbox_writes,
            permission_mode: self.mode,
            bypass,
            read_only,
            project_text: self.project_text,
            max_parallel: self.max_parallel,
            start_serially: self.start_serially,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::{Bindings, DETECT_ORDER, bind, builtins::BUILTINS, resume_template};

    fn builtin_profile(name: &str, mode: Option<&str>) -> Result<Profile> {
        let mut draft = Draft::new(name, builtin(name));
        if let Some(m) = mode {
            draft.mode = Some(m.to_owned());
        }
        draft.finish()
    }

    #[test]
    fn modes_expand_into_the_templates() {
        let p = builtin_profile("claude", None).unwrap();
        assert_eq!(p.permission_mode.as_deref(), Some("acceptEdits"));
        assert!(
            p.args
                .windows(2)
                .any(|w| w == ["--permission-mode", "acceptEdits"])
        );
        assert!(!p.args.iter().any(|a| a == "{mode}"));
        let bypass = builtin_profile("claude", Some("bypass")).unwrap();
        assert!(bypass.bypass);
        assert!(
            bypass
                .args
                .contains(&"--dangerously-skip-permissions".to_owned())
        );
        assert!(
            bypass
                .resume
                .unwrap()
                .contains(&"--dangerously-skip-permissions".to_owned())
        );
        assert!(builtin_profile("claude", Some("reckless")).is_err());
        for b in BUILTINS {
            assert!(
                b.modes.iter().any(|m| m.name == b.default_mode),
                "{}",
                b.name
            );
            assert!(DETECT_ORDER.contains(&b.name));
        }
    }

    #[test]
    fn binds_placeholders() {
        let p = builtin_profile("codex", None).unwrap();
        let spec = p.spec("/bin/codex".into());
        let b = Bindings {
            prompt: "do it",
            prompt_file: Path::new("/p.md"),
            session_id: Some("T1"),
        };
        let first = bind(&spec, &spec.args, &b);
        assert_eq!(first.last().map(String::as_str), Some("do it"));
        assert_eq!(first.iter().filter(|a| *a == "do it").count(), 1);
        let resume = bind(&spec, resume_template(&spec, Some("T1")).unwrap(), &b);
        assert!(
            resume.windows(2).any(|w| w == ["T1", "do it"]),
            "{resume:?}"
        );
        assert!(
            resume_template(&spec, None).is_none(),
            "codex needs the thread id"
        );

        let mut custom = spec.clone();
        custom.args = vec!["--file".into(), "{prompt_file}".into()];
        assert_eq!(
            bind(&custom, &custom.args, &b),
            ["--file", "/p.md", "do it"]
        );
        custom.prompt_via = "stdin".into();
        assert_eq!(bind(&custom, &custom.args, &b), ["--file", "/p.md"]);
    }
}
