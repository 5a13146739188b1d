//! What the benches share: the world their commands run in (our binaries first on PATH, a
//! private HOME in a temporary folder) and synthetic repositories.

use git_agent::process::Cmd;
use std::path::{Path, PathBuf};

/// The environment every command runs in: our binaries first on PATH, a private HOME.
pub struct World {
    pub root: PathBuf,
    pub path: String,
    pub home: PathBuf,
}

impl World {
    /// A world in a new temporary folder under `dir` (default the system's), with a user
    /// config that allows sessions there. The folder goes when the returned guard drops
    /// (unless kept with `TempDir::keep`).
    pub fn new(dir: Option<&Path>) -> (tempfile::TempDir, World) {
        let tmp = tempfile::Builder::new()
            .prefix("git-agent-bench-")
            .tempdir_in(dir.map_or_else(std::env::temp_dir, Path::to_owned))
            .expect("tempdir");
        let root = tmp.path().canonicalize().unwrap();
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = Bench\n\temail = bench@example.com\n[agent]\n\tallowTemp = true\n[advice]\n\tdetachedHead = false\n",
        )
        .unwrap();
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_git-agent"));
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        (tmp, World { root, path, home })
    }

    /// The variables [`World::cmd`] sets (for a command not started through `Cmd`).
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PATH", self.path.clone()),
            ("HOME", self.home.display().to_string()),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            (
                "XDG_CONFIG_HOME",
                self.home.join(".config").display().to_string(),
            ),
        ]
    }

    /// A command through the project's process wrapper (stdin closed), in this world.
    pub fn cmd(&self, program: &str, dir: &Path) -> Cmd {
        let mut cmd = Cmd::new(program).current_dir(dir);
        for (k, v) in self.vars() {
            cmd = cmd.env(k, v);
        }
        cmd.env_remove("GIT_DIR").env_remove("GIT_WORK_TREE")
    }

    pub fn sh(&self, dir: &Path, script: &str) {
        let out = self
            .cmd("sh", dir)
            .args(["-c", script])
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The first line a bench prints: what is compared, on how many cores.
    pub fn banner(&self) {
        let git_version = String::from_utf8_lossy(
            &self
                .cmd("git", &self.root)
                .arg("--version")
                .output()
                .unwrap()
                .stdout,
        )
        .trim()
        .to_owned();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!(
            "git-agent {} vs {git_version}, {cores} cores",
            env!("CARGO_PKG_VERSION")
        );
    }
}

/// A repository of `files` files in folders of 100, one commit, written with fast-import.
pub fn synthetic(w: &World, dir: &Path, files: usize) {
    w.sh(&w.root, &format!("git init -q -b main '{}'", dir.display()));
    let mut stream = String::new();
    stream
        .push_str("commit refs/heads/main\ncommitter Bench <b@b> 1700000000 +0000\ndata 4\ninit\n");
    for i in 0..files {
        let content: String = (0..20).map(|l| format!("line {l} of file {i}\n")).collect();
        stream.push_str(&format!(
            "M 100644 inline src/d{:03}/f{:03}.txt\ndata {}\n{content}\n",
            i / 100,
            i % 100,
            content.len()
        ));
    }
    let out = w
        .cmd("git", dir)
        .args(["fast-import", "--quiet"])
        .output_with_input(stream.as_bytes())
        .expect("fast-import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    w.sh(dir, "git reset -q --hard main && git gc -q");
}
