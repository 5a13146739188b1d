//! A real `sshd` on 127.0.0.1 for the SSH runner's tests: a throw-away host key and user key,
//! and a second home directory and clone as the "remote machine" (the same binaries, reached
//! through the remote side's `PATH`, which sshd's `SetEnv` sets).
//!
//! The client side is `GIT_SSH_COMMAND=ssh -F <temp ssh_config>`: git and the runner use it,
//! the user's `~/.ssh` is never read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TestEnv;

const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    child: Child,
    pub port: u16,
    /// The "remote machine": its home and its clone of the repository.
    pub remote_home: PathBuf,
    pub remote_repo: PathBuf,
    /// `ssh -F <config>`, as `GIT_SSH_COMMAND`.
    pub ssh_command: String,
}

impl Sshd {
    /// Starts sshd for `env` and points `env`'s commands at it; `None` (and says why) where
    /// no sshd can run here.
    pub fn start(env: &mut TestEnv) -> Option<Self> {
        if !Path::new(SSHD).exists() {
            eprintln!("skipped: {SSHD} is missing (install openssh-server)");
            return None;
        }
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: sshd needs root here (UsePAM no, any user)");
            return None;
        }
        let dir = env.root().join("sshd");
        std::fs::create_dir_all(&dir).unwrap();
        // sshd's privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        for key in ["host_key", "id"] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
                .arg(dir.join(key))
                .output()
                .expect("ssh-keygen");
            assert!(out.status.success(), "ssh-keygen: {out:?}");
        }
        std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
        let port = free_port();
        let remote_home = env.root().join("remote-home");
        let remote_repo = env.root().join("remote-repo");
        std::fs::create_dir_all(&remote_home).unwrap();
        let remote_tmp = env.root().join("remote-tmp");
        std::fs::create_dir_all(&remote_tmp).unwrap();
        std::fs::write(
            remote_home.join(".gitconfig"),
            format!(
                "[init]\n\tdefaultBranch = main\n[user]\n\tname = Remote\n\temail = remote@example.com\n\
                 [agent \"sandbox\"]\n\tallowWrite = {}\n",
                env.root().join("shared").display()
            ),
        )
        .unwrap();
        env.git(&[
            "clone",
            "-q",
            env.repo.to_str().unwrap(),
            remote_repo.to_str().unwrap(),
        ]);
        let path = format!(
            "{}:{}:/usr/bin:/bin",
            env.bin.display(),
            super::git_dir_on_path().display()
        );
        let set_env = [
            format!("PATH={path}"),
            format!("HOME={}", remote_home.display()),
            format!("TMPDIR={}", remote_tmp.display()),
            "GIT_CONFIG_NOSYSTEM=1".to_owned(),
            format!(
                "GIT_CONFIG_GLOBAL={}",
                remote_home.join(".gitconfig").display()
            ),
            format!("GIT_AGENT_TEST_LOG={}", env.env_value("GIT_AGENT_TEST_LOG")),
            "LC_ALL=C".to_owned(),
            "NO_COLOR=1".to_owned(),
        ];
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\n\
             AuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PidFile {dir}/sshd.pid\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nSetEnv {}\n",
            set_env.join(" "),
            dir = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        let host_key = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        std::fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", host_key.join(" ")),
        )
        .unwrap();
        std::fs::write(
            dir.join("ssh_config"),
            format!(
                "Host *\n\tUser root\n\tIdentityFile {dir}/id\n\tIdentitiesOnly yes\n\
                 \tUserKnownHostsFile {dir}/known_hosts\n\tStrictHostKeyChecking yes\n\
                 \tLogLevel ERROR\n",
                dir = dir.display()
            ),
        )
        .unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .expect("start sshd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let ssh_command = format!("ssh -F {}", dir.join("ssh_config").display());
        env.set_env("GIT_SSH_COMMAND", &ssh_command);
        Some(Self {
            child,
            port,
            remote_home,
            remote_repo,
            ssh_command,
        })
    }

    /// The `--runner` for the remote clone.
    pub fn runner(&self) -> String {
        format!(
            "ssh://127.0.0.1:{}{}",
            self.port,
            self.remote_repo.display()
        )
    }

    /// Kills the connections sshd is serving (its children), as a dropped network would.
    pub fn drop_connections(&self) {
        for pid in children_of(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Sshd {
    /// Stops sshd and its connections: the host cannot be reached any more.
    pub fn stop(&mut self) {
        self.drop_connections();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sshd {
    /// Leaves no process behind: the connections, sshd, and the remote sessions' supervisors
    /// and agents (a failed test may leave them running over there).
    fn drop(&mut self) {
        let sessions = self.remote_repo.join(".git/agent/sessions");
        for entry in std::fs::read_dir(sessions).into_iter().flatten().flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let Ok(record) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            for key in ["supervisor", "agent"] {
                let Ok(p) = serde_json::from_value::<git_agent::procs::ProcessRef>(
                    record["processes"][key].clone(),
                ) else {
                    continue;
                };
                if key == "agent" {
                    p.signal_group(nix::sys::signal::Signal::SIGKILL);
                } else {
                    p.signal(nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        self.drop_connections();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: comm may hold spaces, the last ')' ends it.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let ppid = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid)
            && let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>()
        {
            found.push(child);
        }
    }
    found
}
