//! The container runner against a real Docker: each test skips (saying why) where `docker
//! info` fails. The image is made here with `docker import` from a tar of the host's own
//! binaries (a shell, coreutils, git, the fake agent and the libraries they link), once per
//! set of binaries: no registry. Containers run with `--network none`.

#![allow(clippy::disallowed_methods)] // drives docker, tar and ldd directly to set up

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::support::TestEnv;

/// The test image's tag, built on first use; `None` (after saying why) without Docker.
pub(crate) fn image() -> Option<String> {
    static IMAGE: OnceLock<Option<String>> = OnceLock::new();
    IMAGE.get_or_init(|| image_of("docker")).clone()
}

/// The test image in `engine`'s store (`docker`, `podman`), built there if missing; `None`
/// where `ENGINE info` fails.
pub(crate) fn image_of(engine: &str) -> Option<String> {
    let info = Command::new(engine)
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !info.is_ok_and(|s| s.success()) {
        return None;
    }
    Some(build_image(engine))
}

macro_rules! docker_or_skip {
    () => {
        match $crate::runner_docker::image() {
            Some(image) => image,
            None => {
                eprintln!("skipped: 'docker info' fails (no Docker daemon here)");
                return;
            }
        }
    };
}
pub(crate) use docker_or_skip;

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Adds `path` by its real folder, and, while it is a symlink, what it points to; and every
/// symlinked folder on the way (`/bin` → `usr/bin`) as the link it is.
fn add_with_links(path: &Path, files: &mut BTreeSet<PathBuf>) {
    let mut ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
    ancestors.pop(); // `/`
    for a in ancestors {
        if a.is_symlink() {
            files.insert(a.to_owned());
        }
    }
    let parent = std::fs::canonicalize(path.parent().unwrap()).unwrap();
    let path = parent.join(path.file_name().unwrap());
    files.insert(path.clone());
    if path.is_symlink() {
        let target = std::fs::read_link(&path).unwrap();
        add_with_links(&parent.join(target), files);
    }
}

fn build_image(engine: &str) -> String {
    let fake = PathBuf::from(env!("CARGO_BIN_EXE_fake-agent"));
    let git = which::which("git").unwrap();
    let exec_path = PathBuf::from(sh("git --exec-path"));
    let mut binaries: Vec<PathBuf> = ["sh", "cat", "ls", "sleep", "env", "test", "echo", "id"]
        .iter()
        .filter_map(|b| which::which(b).ok())
        .collect();
    binaries.push(git.clone());
    let mut files = BTreeSet::new();
    for b in &binaries {
        add_with_links(b, &mut files);
    }
    for entry in std::fs::read_dir(&exec_path).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            add_with_links(&path, &mut files);
        }
    }
    let mut libs = BTreeSet::new();
    for b in binaries.iter().chain([&fake]) {
        let out = Command::new("ldd").arg(b).output().unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let lib = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(lib) = lib.filter(|l| l.starts_with('/')) {
                libs.insert(PathBuf::from(lib));
            }
        }
    }
    for lib in &libs {
        add_with_links(lib, &mut files);
    }
    // The tag names what went in: the same binaries make the same image, built once.
    let mut key = String::from("image layout 3\n");
    for f in files.iter().chain([&fake]) {
        let meta = std::fs::symlink_metadata(f).unwrap();
        use std::os::unix::fs::MetadataExt as _;
        key.push_str(&format!(
            "{}:{}:{}\n",
            f.display(),
            meta.len(),
            meta.mtime()
        ));
    }
    let hash = sh(&format!(
        "printf %s '{}' | sha256sum",
        key.replace('\'', "")
    ));
    let tag = format!("git-agent-test:{}", &hash[..16]);
    let exists = Command::new(engine)
        .args(["image", "inspect", &tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    drop_older_images(engine);
    if exists.success() {
        return tag;
    }
    let stage = tempfile::tempdir().unwrap();
    let list = stage.path().join("files");
    let names: Vec<String> = files
        .iter()
        .map(|f| f.to_string_lossy().trim_start_matches('/').to_owned())
        .collect();
    std::fs::write(&list, names.join("\n") + "\n").unwrap();
    // The fake agent goes on the image's PATH.
    let bin = stage.path().join("usr/local/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(&fake, bin.join("fake-agent")).unwrap();
    // An agent CLI found only in the image, not on the host's PATH.
    std::os::unix::fs::symlink("fake-agent", bin.join("boxed-agent")).unwrap();
    sh(&format!(
        "(tar -C / --no-recursion -cf - -T {list} && tar -C {stage} -cf - usr/local) | cat > {stage}/image.tar.parts",
        list = list.display(),
        stage = stage.path().display()
    ));
    // Two archives in one stream: `tar -A` would do; concatenating and ignoring zero blocks
    // (`-i`) on the way out is simpler.
    sh(&format!(
        "cd {stage} && mkdir root && tar -C root -xif image.tar.parts && tar -C root -cf image.tar . && {engine} import --change 'LABEL git-agent-test=1' image.tar {tag} >/dev/null",
        stage = stage.path().display()
    ));
    tag
}

/// Removes the test images earlier builds made (each rebuild of the binaries makes a new
/// one), once per test run and engine: those more than an hour old that no container uses, so that
/// another checkout's suite running meanwhile keeps its own.
fn drop_older_images(engine: &str) {
    static ONCE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut done = ONCE.lock().unwrap();
    if done.iter().any(|e| e == engine) {
        return;
    }
    done.push(engine.to_owned());
    sh(&format!(
        "{engine} image prune -af --filter label=git-agent-test --filter until=1h >/dev/null 2>&1 || true"
    ));
}

/// A test repository whose agents run in the test image, offline.
pub(crate) fn docker_env(image: &str) -> TestEnv {
    let env = TestEnv::new();
    env.git(&["config", "agent.runner", "docker"]);
    env.git(&["config", "agent.image", image]);
    env.git(&["config", "agent.runner.network", "none"]);
    env
}

/// `git agent new --name NAME -- fake-agent --script S`, with the script inside the git
/// directory (the container sees nothing else of the host).
pub(crate) fn spawn(env: &TestEnv, name: &str, script: &str) {
    let dir = env.repo.join(".git/test-scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.script"));
    std::fs::write(&path, script).unwrap();
    env.agent(&[
        "new",
        "--name",
        name,
        "--",
        "fake-agent",
        "--script",
        path.to_str().unwrap(),
    ])
    .ok();
}

/// Our containers of `env`'s repository (running or not).
fn containers(env: &TestEnv) -> Vec<String> {
    ours_in("docker", env, "-aq")
}

/// Our running containers of `env`'s repository.
fn running(env: &TestEnv) -> Vec<String> {
    ours_in("docker", env, "-q")
}

/// The ids of `engine`'s containers labelled with `env`'s repository: `-aq` all, `-q` the
/// running ones.
pub(crate) fn ours_in(engine: &str, env: &TestEnv, which: &str) -> Vec<String> {
    let repo = std::fs::canonicalize(env.repo.join(".git")).unwrap();
    let out = Command::new(engine)
        .args(["ps", which, "--filter"])
        .arg(format!("label=git-agent.repo={}", repo.display()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The session's log here.
pub(crate) fn log(env: &TestEnv, name: &str) -> String {
    std::fs::read_to_string(env.state_dir().join("sessions").join(name).join("log"))
        .unwrap_or_default()
}

#[test]
fn an_agent_in_a_container_commits_to_the_local_branch() {
    let image = docker_or_skip!();
    let env = docker_env(&image);
    spawn(
        &env,
        "boxed",
        "write hello.txt from the box\ncommit add hello\n",
    );
    let record = env.wait_state("boxed", "done");
    assert_eq!(record["runner"]["kind"], "container", "{record}");
    assert!(
        record["runner"]["container"]
            .as_str()
            .is_some_and(|c| c.starts_with("git-agent-repo-")),
        "{record}"
    );
    let subjects = env.git(&["log", "--format=%s", "agent/boxed"]);
    assert!(
        subjects.starts_with("add hello"),
        "{subjects}\n{}",
        log(&env, "boxed")
    );
    let author = env.git(&["log", "-1", "--format=%an", "agent/boxed"]);
    assert_eq!(author.trim(), "Test Author");
    let list = env.agent(&["list"]).ok();
    assert!(
        list.stdout.contains("fake-agent (docker)"),
        "{}",
        list.stdout
    );
    let show = env.agent(&["show", "boxed"]).ok();
    assert!(show.stdout.contains(&image), "{}", show.stdout);
    env.agent(&["merge", "boxed"]).ok();
    assert_eq!(
        std::fs::read_to_string(env.repo.join("hello.txt")).unwrap(),
        "from the box\n"
    );
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
}

#[test]
fn a_container_sees_neither_the_main_checkout_nor_home() {
    let image = docker_or_skip!();
    let env = docker_env(&image);
    let readme = env.repo.join("README.md");
    let home = env.home.join(".gitconfig");
    let git_head = env.repo.join(".git/HEAD");
    let planted = env.repo.join("planted");
    let probe = format!(
        "for p in {} {} {}; do if test -e $p; then echo SEEN $p; else echo ABSENT $p; fi; done; echo x > {} && echo WROTE-INSIDE",
        readme.display(),
        home.display(),
        git_head.display(),
        planted.display(),
    );
    env.agent(&["new", "--name", "peek", "--", "sh", "-c", &probe])
        .ok();
    env.wait_state("peek", "done");
    let out = log(&env, "peek");
    assert!(
        out.contains(&format!("ABSENT {}", readme.display())),
        "{out}"
    );
    assert!(out.contains(&format!("ABSENT {}", home.display())), "{out}");
    // The git directory is there (the probe can see what is mounted).
    assert!(
        out.contains(&format!("SEEN {}", git_head.display())),
        "{out}"
    );
    // Whatever it writes outside its mounts stays in the container.
    assert!(out.contains("WROTE-INSIDE"), "{out}");
    assert!(!planted.exists());
}

#[test]
fn stop_ends_the_container() {
    let image = docker_or_skip!();
    let env = docker_env(&image);
    spawn(&env, "long", "sleep 300\n");
    env.wait_state("long", "running");
    env.wait_until("the container to run", || !running(&env).is_empty());
    env.agent(&["stop", "long"]).ok();
    assert_eq!(env.stored_state("long"), "stopped");
    env.wait_until("no container of ours", || containers(&env).is_empty());
}

#[test]
fn a_lost_supervisor_leaves_no_container_after_stop_or_rm() {
    let image = docker_or_skip!();
    let env = docker_env(&image);
    spawn(&env, "orphan", "sleep 300\n");
    env.wait_state("orphan", "running");
    env.wait_until("the container to run", || !running(&env).is_empty());
    env.kill_supervisor("orphan");
    // And the `docker run` client with it: the container outlives both until someone
    // cleans up.
    kill_client(&env, "orphan");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(running(&env).len(), 1);
    env.agent(&["stop", "orphan"]).ok();
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));

    spawn(&env, "gone", "sleep 300\n");
    env.wait_state("gone", "running");
    env.wait_until("the container to run", || !running(&env).is_empty());
    env.kill_supervisor("gone");
    env.agent(&["rm", "gone", "--force"]).ok();
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
}

#[test]
fn an_agent_cannot_plant_a_hook_or_a_config() {
    let image = docker_or_skip!();
    let env = docker_env(&image);
    let git = env.repo.join(".git");
    let script = format!(
        "try-write {hook} exit 0\ntry-write {config} [core]\ntry-write {info} x\ntry-write {state} {{}}\ntry-write {main} 0\ntry-write {objects} ok\n",
        hook = git.join("hooks/post-merge").display(),
        main = git.join("refs/heads/main").display(),
        config = git.join("config").display(),
        info = git.join("info/attributes").display(),
        state = git.join("agent/sessions/other.json").display(),
        objects = git.join("objects/probe").display(),
    );
    spawn(&env, "planter", &script);
    env.wait_state("planter", "done");
    let out = log(&env, "planter");
    for denied in [
        "refs/heads/main",
        "hooks/post-merge",
        "config",
        "info/attributes",
        "agent/sessions/other.json",
    ] {
        assert!(
            out.contains(&format!("denied {}", git.join(denied).display())),
            "{denied}: {out}"
        );
    }
    // The rest of the git directory is writable (commits need it): the probe is real.
    assert!(
        out.contains(&format!("wrote {}", git.join("objects/probe").display())),
        "{out}"
    );
    assert!(!git.join("hooks/post-merge").exists());
    assert!(
        !std::fs::read_to_string(git.join("config"))
            .unwrap()
            .starts_with("[core]\n\n")
    );
    let config = env.git(&["config", "--get", "agent.runner"]);
    assert_eq!(config.trim(), "docker");
}

#[test]
fn no_image_names_both_places() {
    if which::which("docker").is_err() {
        eprintln!("skipped: no docker on PATH");
        return;
    }
    let env = TestEnv::new();
    let out = env
        .agent(&["new", "--runner", "docker", "--", "fake-agent"])
        .code(128);
    assert!(out.stderr.contains("agent.image"), "{}", out.stderr);
    assert!(
        out.stderr.contains(".devcontainer/devcontainer.json"),
        "{}",
        out.stderr
    );
    assert!(!env.has_record("fake-agent"));

    // An image the repository names runs only once approved.
    env.write(
        ".devcontainer/devcontainer.json",
        "{\n  // comment\n  \"image\": \"example/dev:1\",\n}\n",
    );
    env.git(&["add", "."]);
    env.git(&["commit", "-q", "-m", "devcontainer"]);
    let out = env
        .agent(&[
            "new",
            "--runner",
            "docker",
            "--name",
            "dc",
            "--",
            "fake-agent",
        ])
        .code(3);
    assert!(out.stderr.contains("example/dev:1"), "{}", out.stderr);
    assert!(out.stderr.contains("--trust"), "{}", out.stderr);
    assert!(!env.has_record("dc"));
    // `git agent trust` shows it and approves it (nothing is run or pulled here).
    let shown = env.agent(&["trust", "--yes"]).ok();
    assert!(
        shown
            .stdout
            .contains("image (.devcontainer/devcontainer.json): not approved"),
        "{}",
        shown.stdout
    );
    let shown = env.agent(&["trust"]).ok();
    assert!(shown.stdout.contains("example/dev:1"), "{}", shown.stdout);
    assert!(shown.stdout.contains("approved"), "{}", shown.stdout);
    assert!(!shown.stdout.contains("not approved"), "{}", shown.stdout);
}

/// Kills the `docker run` client of `name` (after its supervisor): nothing local is left to
/// signal, and only the engine can still stop the container.
/// Kills (SIGKILL) the process the session's record names as its agent: a container
/// runner's engine client.
pub(crate) fn kill_client(env: &TestEnv, name: &str) {
    let client = env.record(name)["processes"]["agent"]["pid"]
        .as_i64()
        .unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(client).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
fn doctor_fix_removes_our_leftover_containers_and_no_one_elses() {
    let image = docker_or_skip!();
    let env = docker_env(&image);
    // A crash: supervisor and client killed, the container runs on.
    spawn(&env, "crashed", "sleep 300\n");
    env.wait_state("crashed", "running");
    env.wait_until("the container to run", || !running(&env).is_empty());
    env.kill_supervisor("crashed");
    kill_client(&env, "crashed");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(running(&env).len(), 1);
    env.agent(&["doctor", "--fix"]);
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));

    // A container of ours for a session that ended, and one of another repository's.
    let repo = std::fs::canonicalize(env.repo.join(".git")).unwrap();
    let start = |repo_label: &str| {
        let out = Command::new("docker")
            .args(["run", "-d", "--network", "none", "--label"])
            .arg(format!("git-agent.repo={repo_label}"))
            .args([
                "--label",
                "git-agent.session=crashed",
                &image,
                "sleep",
                "300",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let ours = start(&repo.to_string_lossy());
    let foreign = start("/elsewhere/.git");
    let _guard = Removes(vec![ours.clone(), foreign.clone()]);
    let report = env.agent(&["doctor"]);
    assert!(
        report.stdout.contains("stray-container") || report.stdout.contains("outlived its session"),
        "{}",
        report.stdout
    );
    assert!(report.stdout.contains(&ours[..7]), "{}", report.stdout);
    assert!(!report.stdout.contains(&foreign[..7]), "{}", report.stdout);
    env.agent(&["doctor", "--fix"]);
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
    let alive = Command::new("docker")
        .args(["inspect", "--format", "{{.State.Running}}", &foreign])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&alive.stdout).trim(), "true");
}

/// Removes the containers a test started itself, whatever happens.
struct Removes(Vec<String>);

impl Drop for Removes {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f"])
            .args(&self.0)
            .output();
    }
}

#[test]
fn an_agent_only_the_image_has_runs_by_its_name() {
    let image = docker_or_skip!();
    let env = docker_env(&image);
    let dir = env.repo.join(".git/test-scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("inside.script");
    std::fs::write(&script, "write inside.txt made inside\ncommit inside\n").unwrap();
    env.git(&[
        "config",
        "agent.profile.boxed.command",
        &format!("boxed-agent --script {}", script.display()),
    ]);
    env.git(&["config", "agent.profile.boxed.format", "text"]);
    // Not on the host: the local runner could not start it.
    assert!(!env.bin.join("boxed-agent").exists());
    env.agent(&["new", "--agent", "boxed", "--name", "inside", "the task"])
        .ok();
    env.wait_state("inside", "done");
    let subjects = env.git(&["log", "--format=%s", "agent/inside"]);
    assert!(
        subjects.starts_with("inside"),
        "{subjects}\n{}",
        log(&env, "inside")
    );
}

#[test]
fn rm_removes_a_container_its_session_left() {
    let image = docker_or_skip!();
    let env = docker_env(&image);
    spawn(&env, "ended", "print nothing to keep\n");
    env.wait_state("ended", "done");
    // As a crash between the container's end and its removal would leave it.
    let repo = std::fs::canonicalize(env.repo.join(".git")).unwrap();
    let out = Command::new("docker")
        .args(["create", "--network", "none", "--label"])
        .arg(format!("git-agent.repo={}", repo.display()))
        .args(["--label", "git-agent.session=ended", &image, "sleep", "300"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _guard = Removes(vec![String::from_utf8_lossy(&out.stdout).trim().to_owned()]);
    assert_eq!(containers(&env).len(), 1);
    env.agent(&["rm", "ended"]).ok();
    assert!(containers(&env).is_empty(), "{:?}", containers(&env));
}
