//! Clone mode (`agent.runner.workspace = clone`): nothing of the host is mounted, so the
//! engine may be on another machine (`DOCKER_HOST=ssh://…`). The container gets the
//! session's branch as a bundle, works in a clone of its own, and hands the branch back as a
//! bundle.
//!
//! Invariants:
//! - what goes in is copied into the created container before it starts, as an archive
//!   owned by the user the agent runs as (`/git-agent`: the bundle, the prompt, the status
//!   file); the clone is `/git-agent/<worktree folder>`;
//! - the container's main process (under the engine's init) is [`WRAPPER`], not the agent:
//!   a TERM reaches the agent, a USR1 kills it, and either way the wrapper then hands back
//!   the branch and, as a commit on `refs/git-agent/leftovers` whose parent is the branch's
//!   tip, what the agent left uncommitted. So `stop`, a timeout or a kill never loses what
//!   the agent made;
//! - what comes back moves nothing here unchecked: `git::bundle` verifies it, fetches it
//!   with fsck, fast-forwards the worktree, and puts the leftovers in a clean worktree as
//!   uncommitted changes (the supervisor's leftovers commit then applies as for a local
//!   agent); what cannot be brought in stays under `refs/agent-incoming/NAME` and
//!   `refs/agent-leftovers/NAME`;
//! - a container is removed only after its result was taken or kept under those refs; one
//!   that ran and handed back nothing (killed by someone else), or not all (`result.partial`:
//!   files git could not take), stays, and refuses the next run and a plain `rm` of its
//!   session (the error names it), until the user removes it;
//! - only what the wrapper writes after the agent ended counts: it empties the result files
//!   first (the agent may have planted them), and an empty one, or one that is not a file,
//!   says nothing; nothing of the clone's config (the agent's) decides what comes back.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use nix::sys::signal::Signal;

use super::{ContainerRunner, Ours, stdin_of};
use crate::error::Failure;
use crate::git::bundle;
use crate::git::repo::Repo;
use crate::procs::ProcessRef;
use crate::runner::{LaunchSpec, Launched, with_hints};

/// Where the container keeps what we give it and what it hands back.
const ROOT: &str = "/git-agent";
/// How long the wrapper gets to hand back the work after the agent is killed.
const HAND_BACK: Duration = Duration::from_secs(30);

/// The container's main process:
/// `sh -c WRAPPER git-agent WORKDIR BRANCH TIP URL PROGRAM ARGS…`. It makes the clone (from
/// URL when given, else empty) and takes the branch from the bundle (the commits the clone
/// lacks; none when the clone has TIP already), runs the agent in the background (its stdin
/// the wrapper's) passing TERM on and turning USR1 into a KILL, then hands back the work: a
/// bundle of what is new since TIP (the branch, and the leftovers commit), or, when nothing
/// is, `result.same`.
const WRAPPER: &str = r#"w=$1 b=$2 tip=$3 url=$4
shift 4
say() { echo "git-agent: $*" >&2; }
# Started again (by hand, a restart policy): what it holds stays for the host to find.
if [ -e "$w" ]; then
  say "$w is there already: this container ran before; its work stays in it"
  exit 125
fi
# Until the agent starts there is nothing to hand back: a kill meanwhile loses nothing
# (emptied once it starts).
echo "$tip" >/git-agent/result.same
if [ -n "$url" ]; then
  git clone -q --no-checkout --template= "$url" "$w"
else
  git -c init.defaultBranch=git-agent-clone init -q --template= "$w"
fi && cd "$w" && if [ -s /git-agent/base.bundle ]; then
  git fetch -q --no-tags /git-agent/base.bundle "refs/heads/$b:refs/heads/$b"
else
  git branch -f "$b" "$tip"
fi && git checkout -q "$b" || {
  say "could not clone $b into $w"
  exit 125
}
: >/git-agent/base.bundle
: >/git-agent/result.same
exec 3<&0
"$@" 0<&3 3<&- &
pid=$!
exec 3<&-
trap 'kill -TERM $pid 2>/dev/null' TERM INT HUP
trap 'kill -KILL $pid 2>/dev/null' USR1
while :; do
  wait $pid
  code=$?
  kill -0 $pid 2>/dev/null || break
done
trap '' TERM INT HUP USR1
# Only what this wrapper writes now counts: the agent may have planted either file. (An
# empty one counts as none: an image may have no `rm`.)
: >/git-agent/result.bundle
: >/git-agent/result.same
# The branch, unless the agent deleted it or left it where the host has it already (at TIP,
# or moved back: the host keeps its branch as it is).
refs=
if git rev-parse -q --verify "refs/heads/$b^{commit}" >/dev/null; then
  git merge-base --is-ancestor "refs/heads/$b" "$tip" ||
    refs="refs/heads/$b"
  [ -n "$refs" ] || [ "$(git rev-parse "refs/heads/$b")" = "$tip" ] ||
    say "the agent moved $b back; it stays as it was"
else
  say "the agent deleted $b"
fi
# What the agent left uncommitted, or commits of its outside the branch (it switched to
# another branch, or detached HEAD): a commit on HEAD with the files as they are.
head=$(git rev-parse -q --verify "HEAD^{commit}")
keep=
# Untracked files counted whatever the clone's config says (the agent writes that config);
# a status that fails (an index the agent broke) takes the files as they are all the same.
if ! st=$(git -c core.excludesFile=/dev/null status --porcelain --untracked-files=all 2>/dev/null) ||
  [ -n "$st" ]; then
  keep=1
fi
if [ "$(git symbolic-ref -q HEAD)" != "refs/heads/$b" ] && [ -n "$head" ] &&
  ! git merge-base --is-ancestor "$head" "refs/heads/$b" 2>/dev/null &&
  ! git merge-base --is-ancestor "$head" "$tip"; then
  say "the agent left $b; what it made there comes back as its leftovers"
  keep=1
fi
# What git cannot take in (a repository of the agent's inside the clone: left out, or only
# its commit's id) is named in `result.partial`: the host then keeps the container.
: >/git-agent/result.partial
complaints() {
  while IFS= read -r line; do
    case $line in
    *"embedded git repository"* | error:* | fatal:*) echo "$line" ;;
    esac
  done <"$1"
}
if [ -n "$keep" ]; then
  export GIT_INDEX_FILE=/git-agent/leftovers.$$.index
  add() { git -c core.excludesFile=/dev/null add -A "$@" 2>/git-agent/add.err; }
  if [ -n "$head" ]; then
    git read-tree "$head" && parent="-p $head"
  else
    git read-tree --empty && parent=
  fi && { add || add --ignore-errors || [ -s /git-agent/add.err ]; } &&
    complaints /git-agent/add.err >/git-agent/result.partial &&
    tree=$(git write-tree) &&
    left=$(git -c user.name=git-agent -c user.email=git-agent@localhost \
      commit-tree $parent -m "left uncommitted by the agent" "$tree") &&
    git update-ref refs/git-agent/leftovers "$left" &&
    refs="$refs refs/git-agent/leftovers" ||
    say "could not take what the agent left uncommitted"
  unset GIT_INDEX_FILE
fi
if [ -z "$refs" ]; then
  echo "$tip" >/git-agent/result.same
else
  git bundle create -q /git-agent/result.bundle $refs --not "$tip" ||
    say "could not bundle $b"
fi
exit $code
"#;

impl ContainerRunner {
    /// Our folder for what goes in and comes back (`sessions/NAME/container/`).
    fn stage(&self) -> PathBuf {
        self.state.session_dir(&self.session.name).join("container")
    }

    fn open_repo(&self) -> Result<Repo> {
        Repo::open_common(&self.repo)
    }

    /// The clone's folder in the container.
    fn workdir(&self) -> String {
        let folder = self
            .session
            .worktree
            .file_name()
            .map_or_else(|| "work".to_owned(), |n| n.to_string_lossy().into_owned());
        // Not over a file of ours there (a session named `status`, `prompt`…).
        let ours = [
            "base.bundle",
            "prompt",
            "status",
            "result.bundle",
            "result.same",
            "result.partial",
            "add.err",
        ];
        if ours.contains(&folder.as_str()) || folder.starts_with("leftovers.") {
            return format!("{ROOT}/{folder}.clone");
        }
        format!("{ROOT}/{folder}")
    }

    /// Creates the container, copies the branch in and starts it attached.
    pub(super) fn launch_clone(&self, spec: &LaunchSpec) -> Result<Launched> {
        let repo = self.open_repo()?;
        bundle::refuse_if_pending(&repo, &self.session).map_err(with_hints)?;
        let stage = self.stage();
        match std::fs::remove_dir_all(&stage) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).context(format!("could not remove {}", stage.display()));
            }
            _ => {}
        }
        std::fs::create_dir_all(&stage)
            .with_context(|| format!("could not create {}", stage.display()))?;
        // What a clone of `cloneFrom` holds already stays out of the bundle.
        let url = self.record.clone_from.clone().unwrap_or_default();
        let have = match url.as_str() {
            "" => Vec::new(),
            url => bundle::shared_with(&repo, url),
        };
        let base = stage.join("base.bundle");
        let (tip, written) = bundle::create_for(&repo, &self.session, &base, &have)?;
        let prompt = spec.env.iter().find(|(k, _)| k == "GIT_AGENT_PROMPT_FILE");
        let archive = stage.join("in.tar");
        let bundled = written.then_some(base.as_path());
        write_archive(&archive, bundled, prompt.map(|(_, v)| v))?;
        let workdir = self.workdir();
        let mut inside = spec.clone();
        for (key, value) in &mut inside.env {
            match key.as_str() {
                "GIT_AGENT_WORKTREE" | "GIT_AGENT_REPO" => value.clone_from(&workdir),
                "GIT_AGENT_PROMPT_FILE" => *value = format!("{ROOT}/prompt"),
                "GIT_AGENT_STATUS_FILE" => *value = format!("{ROOT}/status"),
                _ => {}
            }
        }
        let (args, env) = self.run_args("create", &inside)?;
        let mut create = self
            .engine
            .cmd()
            .args(&args)
            .arg(&self.record.image)
            .args([
                "sh",
                "-c",
                WRAPPER,
                "git-agent",
                &workdir,
                &self.session.branch,
                &tip,
                &url,
            ])
            .arg(super::program_name(spec))
            .args(&spec.args);
        for (key, value) in &env {
            create = create.env(key, value);
        }
        self.record_name()?;
        create.run()?;
        let copied = self.engine.copy_archive_in(&self.name, &archive);
        let _ = std::fs::remove_file(&archive);
        let _ = std::fs::remove_file(stage.join("base.bundle"));
        if let Err(err) = copied {
            let _ = self.engine.remove(std::slice::from_ref(&self.name));
            return Err(err.context("could not copy the branch into the container"));
        }
        let mut start = self.engine.cmd().args(["start", "-a"]);
        if spec.stdin.is_some() {
            start = start.arg("-i");
        }
        let child =
            start
                .arg(&self.name)
                .spawn(stdin_of(spec)?, Stdio::piped(), Stdio::piped(), true)?;
        Launched::from_child(child, "the container")
    }

    /// TERM goes to the agent through the wrapper; KILL becomes USR1 (the wrapper kills the
    /// agent and hands back the work). The client (`start -a`, which dies of a TERM rather
    /// than pass it on) is left to end with its container; it is signalled only once no
    /// container of ours runs.
    pub(super) fn signal_clone(&self, process: &ProcessRef, sig: Signal) -> bool {
        let word = if sig == Signal::SIGKILL {
            "USR1"
        } else {
            sig.as_str().trim_start_matches("SIG")
        };
        self.engine.kill(&self.name, word) || process.signal_group(sig)
    }

    /// Stops the container so that it hands back the work: TERM, `grace`, USR1, then
    /// [`HAND_BACK`] for the wrapper before the engine kills it. True once it is stopped.
    pub(super) fn stop_for_result(&self, grace: Duration) -> bool {
        self.stop_container(&self.name, grace)
    }

    fn stop_container(&self, id: &str, grace: Duration) -> bool {
        if !self.engine.is_running(id) {
            return true;
        }
        self.engine.kill(id, "TERM");
        if self.wait_stopped(id, grace) {
            return true;
        }
        self.engine.kill(id, "USR1");
        if self.wait_stopped(id, HAND_BACK) {
            return true;
        }
        self.engine.stop(id, Duration::from_secs(1))
    }

    fn wait_stopped(&self, id: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if !self.engine.is_running(id) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// After the run: takes the result out of the container, brings it to the branch and
    /// worktree, and removes the container.
    pub(super) fn collect_clone(&self) -> Result<()> {
        // The client is gone; a container it left running is stopped the careful way.
        self.stop_for_result(Duration::from_secs(10));
        // The supervisor works in the worktree; where the user removed it meanwhile, git (and
        // gix) cannot start there, and the result could not even be kept under our refs.
        if std::env::current_dir().is_err() {
            let _ = std::env::set_current_dir(&self.repo);
        }
        let repo = self.open_repo()?;
        let result = self.take_result(&self.name)?;
        self.take_status();
        let partial = self.left_in_container();
        let Some(result) = result else {
            // Nothing new: the branch is as it was sent.
            self.engine.remove(std::slice::from_ref(&self.name))?;
            let _ = std::fs::remove_dir_all(self.stage());
            return Ok(());
        };
        let (commit, leftovers) = self
            .fetch_result(&repo, &result)
            .map_err(|e| self.kept_in_container(e))?;
        if partial.is_none() {
            self.engine.remove(std::slice::from_ref(&self.name))?;
        }
        let _ = std::fs::remove_dir_all(self.stage());
        if let Some(commit) = commit {
            bundle::bring_back(&repo, &self.session, &commit).map_err(with_hints)?;
        }
        if let Some(leftovers) = leftovers {
            bundle::restore_leftovers(&repo, &self.session, &leftovers).map_err(with_hints)?;
        }
        match partial {
            Some(what) => Err(self.kept_in_container(
                Failure::fatal(format!(
                    "not all the agent left could be taken out of its clone: {what}"
                ))
                .into(),
            )),
            None => Ok(()),
        }
    }

    /// What the wrapper could not take in (`result.partial`, the lines git complained
    /// with), if anything: the container then stays, with it.
    fn left_in_container(&self) -> Option<String> {
        let taken = self.stage().join("result.partial");
        let _ = std::fs::remove_file(&taken);
        self.engine
            .copy_out(&self.name, &format!("{ROOT}/result.partial"), &taken)
            .ok()?;
        if !std::fs::symlink_metadata(&taken).is_ok_and(|m| m.is_file()) {
            return None;
        }
        let text = std::fs::read_to_string(&taken).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        (!lines.is_empty()).then(|| lines.join("; "))
    }

    /// Copies the agent's status file out to the session's, best effort. Only a file's
    /// content is taken: what the agent made of it (a symlink to a file of this machine, a
    /// folder) must not become ours.
    fn take_status(&self) {
        let taken = self.stage().join("status");
        let _ = std::fs::remove_file(&taken);
        if self
            .engine
            .copy_out(&self.name, &format!("{ROOT}/status"), &taken)
            .is_err()
            || !std::fs::symlink_metadata(&taken).is_ok_and(|m| m.is_file())
        {
            return;
        }
        // A rename replaces whatever is at the path, without following it.
        let status = self.state.status_path(&self.session.name);
        let _ = std::fs::rename(&taken, &status);
    }

    /// Copies the result bundle out of container `id` into our folder; `None` where the
    /// container says nothing is new (`result.same`).
    fn take_result(&self, id: &str) -> Result<Option<PathBuf>> {
        let stage = self.stage();
        std::fs::create_dir_all(&stage)
            .with_context(|| format!("could not create {}", stage.display()))?;
        let result = stage.join("result.bundle");
        let _ = std::fs::remove_file(&result);
        // The wrapper empties both files when the agent starts and when it hands back: an
        // empty (or planted, not a file) one says nothing.
        let written =
            |path: &Path| std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0);
        let copied = self
            .engine
            .copy_out(id, &format!("{ROOT}/result.bundle"), &result)
            .and_then(|()| {
                anyhow::ensure!(written(&result), "{ROOT}/result.bundle is empty");
                Ok(())
            });
        let same = stage.join("result.same");
        let _ = std::fs::remove_file(&same);
        if copied.is_err()
            && self
                .engine
                .copy_out(id, &format!("{ROOT}/result.same"), &same)
                .is_ok()
            && written(&same)
        {
            let _ = std::fs::remove_file(&same);
            return Ok(None);
        }
        let (engine, name) = (&self.record.engine, &self.name);
        copied.map_err(|e| {
                let failure = Failure::fatal(format!(
                    "the container {name} handed back no result: {e:#}"
                ))
                .hint(format!(
                    "it is kept, with the agent's clone: copy that out with '{engine} cp {name}:{} DIR'",
                    self.workdir()
                ))
                .hint(format!(
                    "then '{engine} rm {name}' lets the session run again"
                ));
                with_hints(failure.into())
            })?;
        Ok(Some(result))
    }

    /// Fetches the branch and the leftovers of the bundle at `result` into our refs (nothing
    /// of the user's moves): the branch's commit (`None` where the bundle leaves the branch
    /// as it was sent) and the leftovers commit.
    fn fetch_result(&self, repo: &Repo, result: &Path) -> Result<(Option<String>, Option<String>)> {
        let commit = if bundle::has_branch(repo, &self.session, result).map_err(with_hints)? {
            Some(bundle::fetch(repo, &self.session, result).map_err(with_hints)?)
        } else {
            None
        };
        let leftovers = bundle::fetch_leftovers(repo, &self.session, result)?;
        Ok((commit, leftovers))
    }

    /// `err` (a result that could not be fetched) with where that result stays: in the
    /// container, which refuses the next run until the user removes it.
    fn kept_in_container(&self, err: anyhow::Error) -> anyhow::Error {
        let failure = match err.downcast::<Failure>() {
            // Its hints are in its message already (`with_hints`).
            Ok(f) => Failure {
                hints: Vec::new(),
                ..f
            },
            Err(e) => Failure::fatal(format!("{e:#}")),
        };
        let (engine, name) = (&self.record.engine, &self.name);
        with_hints(
            failure
                .hint(format!(
                    "the container {name} keeps it: '{engine} cp {name}:{ROOT} DIR' copies it out"
                ))
                .hint(format!(
                    "then '{engine} rm {name}' lets the session run again"
                ))
                .into(),
        )
    }

    /// Removes the session's containers (`ours`) after keeping what each handed back under
    /// the incoming and leftovers refs: a running one is stopped the careful way first. One
    /// whose result cannot be kept is left, and the error says so.
    pub(super) fn clean_up_clones(&self, ours: &[Ours]) -> Result<()> {
        if ours.is_empty() {
            return Ok(());
        }
        let repo = self.open_repo()?;
        for c in ours {
            self.stop_container(&c.id, Duration::from_secs(10));
            match self.take_result(&c.id) {
                Ok(Some(result)) => {
                    self.fetch_result(&repo, &result)
                        .map_err(|e| self.kept_in_container(e))?;
                    let _ = std::fs::remove_file(&result);
                }
                Ok(None) => {}
                // Killed before its wrapper handed back (`docker kill`, the engine restarted):
                // its clone may hold the agent's work, and only the user may drop it. One
                // that never started holds nothing.
                Err(err) if self.engine.has_started(&c.id) => return Err(err),
                Err(_) => {}
            }
            self.engine.remove(std::slice::from_ref(&c.id))?;
        }
        Ok(())
    }
}

/// The archive copied into the container: `/git-agent` with the bundle (empty when the clone
/// has the whole branch), the prompt and an empty status file, all owned by the user the agent runs as.
fn write_archive(path: &Path, bundle: Option<&Path>, prompt: Option<&String>) -> Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    let mut tar = tar::Builder::new(file);
    let (uid, gid) = (
        u64::from(nix::unistd::getuid().as_raw()),
        u64::from(nix::unistd::getgid().as_raw()),
    );
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_size(size);
        h.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        h
    };
    let root = ROOT.trim_start_matches('/');
    let mut dir = header(tar::EntryType::Directory, 0o755, 0);
    tar.append_data(&mut dir, format!("{root}/"), std::io::empty())?;
    let mut add_file = |name: &str, from: Option<&Path>| -> Result<()> {
        let (size, reader): (u64, Box<dyn std::io::Read>) = match from {
            Some(p) => {
                let f = std::fs::File::open(p)
                    .with_context(|| format!("could not open {}", p.display()))?;
                (f.metadata()?.len(), Box::new(f))
            }
            None => (0, Box::new(std::io::empty())),
        };
        let mut h = header(tar::EntryType::Regular, 0o644, size);
        tar.append_data(&mut h, format!("{root}/{name}"), reader)?;
        Ok(())
    };
    add_file("base.bundle", bundle)?;
    add_file("status", None)?;
    if let Some(prompt) = prompt.map(Path::new).filter(|p| p.is_file()) {
        add_file("prompt", Some(prompt))?;
    }
    tar.into_inner()?;
    Ok(())
}
