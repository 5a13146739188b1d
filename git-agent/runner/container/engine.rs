//! The engine's CLI (`docker` or `podman`, which take the same arguments here): the
//! containers of ours, found by our labels, and what is done to them.
//!
//! Only containers carrying our `git-agent.repo` label for this repository are ever touched,
//! and by id or by our own name: never anyone else's.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::process::Cmd;

/// The label naming the repository (its git common directory) a container works for.
pub const REPO_LABEL: &str = "git-agent.repo";
/// The label naming the session.
pub const SESSION_LABEL: &str = "git-agent.session";

/// One container of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ours {
    pub id: String,
    pub session: String,
    pub running: bool,
    /// Labelled clone mode: the agent's work lives in it until it is handed back.
    pub clone: bool,
}

/// The label naming how the container works: `mount` or `clone`.
pub const WORKSPACE_LABEL: &str = "git-agent.workspace";

/// The engine's CLI.
#[derive(Debug, Clone)]
pub struct Engine {
    pub program: String,
    /// The engine's host as recorded (`None`: the CLI's own default).
    pub host: Option<String>,
}

impl Engine {
    pub fn new(program: &str, host: Option<&str>) -> Self {
        Self {
            program: program.to_owned(),
            host: host.map(str::to_owned),
        }
    }

    /// The variable through which the CLI is told its engine's host.
    pub fn host_variable(program: &str) -> &'static str {
        if Path::new(program)
            .file_name()
            .is_some_and(|n| n == "podman")
        {
            "CONTAINER_HOST"
        } else {
            "DOCKER_HOST"
        }
    }

    fn is_podman(&self) -> bool {
        Path::new(&self.program)
            .file_name()
            .is_some_and(|n| n == "podman")
    }

    /// The engine's CLI, pointed at the recorded host.
    pub fn cmd(&self) -> Cmd {
        let cmd = Cmd::new(&self.program);
        match &self.host {
            Some(host) => cmd.env(Self::host_variable(&self.program), host),
            None => cmd,
        }
    }

    /// Copies a tar archive (`archive`, ownership as it says) into the container `name` at
    /// `/`; the container may be created and not started.
    pub fn copy_archive_in(&self, name: &str, archive: &Path) -> Result<()> {
        use anyhow::Context as _;
        let file = std::fs::File::open(archive)
            .with_context(|| format!("could not open {}", archive.display()))?;
        self.cmd()
            .args(["cp", "-"])
            .arg(format!("{name}:/"))
            .run_with_stdin(std::process::Stdio::from(file))
            .map(drop)
    }

    /// Copies the file `from` of the container `name` (running or not) to `to` here.
    pub fn copy_out(&self, name: &str, from: &str, to: &Path) -> Result<()> {
        self.cmd()
            .arg("cp")
            .arg(format!("{name}:{from}"))
            .arg(to)
            .run()
            .map(drop)
    }

    /// The containers of ours for `repo` (of `session` only, if given), running or not.
    pub fn ours(&self, repo: &Path, session: Option<&str>) -> Result<Vec<Ours>> {
        let mut cmd = self
            .cmd()
            .args(["ps", "-a", "--no-trunc", "--filter"])
            .arg(format!("label={REPO_LABEL}={}", repo.display()));
        if let Some(s) = session {
            cmd = cmd
                .arg("--filter")
                .arg(format!("label={SESSION_LABEL}={s}"));
        }
        // Docker's template has a `Label` method; podman's has only the `Labels` map.
        let label = |name: &str| {
            if self.is_podman() {
                format!("{{{{index .Labels \"{name}\"}}}}")
            } else {
                format!("{{{{.Label \"{name}\"}}}}")
            }
        };
        let format = format!(
            "{{{{.ID}}}}\t{{{{.State}}}}\t{}\t{}",
            label(SESSION_LABEL),
            label(WORKSPACE_LABEL)
        );
        let out = cmd.arg("--format").arg(format).run()?;
        Ok(out
            .lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                let id = fields.next()?.trim().to_owned();
                let state = fields.next().unwrap_or_default();
                let session = fields.next().unwrap_or_default().to_owned();
                let clone = fields.next().unwrap_or_default().trim() == "clone";
                (!id.is_empty()).then(|| Ours {
                    clone,
                    id,
                    // Docker says `running`, podman `Running`.
                    running: state.eq_ignore_ascii_case("running"),
                    session,
                })
            })
            .collect())
    }

    /// Removes containers by id (they are stopped first, by force). One the engine is
    /// removing already (`run --rm` after a stop) counts once it is gone.
    pub fn remove(&self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let Err(err) = self.cmd().args(["rm", "-f"]).args(ids).run() else {
            return Ok(());
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if !ids.iter().any(|id| self.exists(id)) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(err)
    }

    fn exists(&self, id: &str) -> bool {
        self.cmd()
            .args(["inspect", "--format", "{{.Id}}", id])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Sends `signal` (`TERM`, `KILL`…) to the container named `name`.
    pub fn kill(&self, name: &str, signal: &str) -> bool {
        self.cmd()
            .args(["kill", "--signal", signal, name])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// `stop` with `grace` before the engine kills the container.
    pub fn stop(&self, name: &str, grace: Duration) -> bool {
        self.cmd()
            .args(["stop", "-t", &grace.as_secs().max(1).to_string(), name])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Whether the container `id` ever started (one only created never ran anything). True
    /// where the engine cannot say: such a container is treated as one that may hold work.
    pub fn has_started(&self, id: &str) -> bool {
        self.cmd()
            .args(["inspect", "--format", "{{.State.StartedAt}}", id])
            .output()
            .map_or(true, |o| {
                !(o.status.success()
                    && String::from_utf8_lossy(&o.stdout)
                        .trim()
                        .starts_with("0001-01-01"))
            })
    }

    /// Whether the container named `name` runs.
    pub fn is_running(&self, name: &str) -> bool {
        self.cmd()
            .args(["inspect", "--format", "{{.State.Running}}", name])
            .output()
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "true"
            })
    }
}

/// The container's name: the repository's folder, a hash of its git directory (two
/// repositories of one name never share one), and the session; in the engine's charset.
pub fn container_name(repo: &Path, session: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(repo.as_os_str().as_encoded_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let folder = repo
        .parent()
        .filter(|_| repo.file_name().is_some_and(|n| n == ".git"))
        .unwrap_or(repo)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!("git-agent-{}-{hash}-{}", clean(&folder), clean(session))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn names_are_in_the_engines_charset() {
        let name = super::container_name(Path::new("/src/my repo/.git"), "fix/bug");
        assert!(name.starts_with("git-agent-my-repo-"), "{name}");
        assert!(name.ends_with("-fix-bug"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        );
    }
}
