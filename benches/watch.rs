//! `cargo bench --bench watch [-- OPTIONS]`: the idle CPU of `git agent watch` against what a
//! user runs without it, in the same run, and prints a table.
//!
//! The repository has `--sessions` sessions whose agents are idle: half still running (the
//! agent is `sleep`), half ended. Each side runs alone in turn, is left to settle 2 s once it is
//! up (start-up is not idling), then its CPU is taken over `--seconds`: user + system time of
//! its whole process tree, read from `/proc` (each process's own time, plus what its reaped
//! children used), so a polling loop's short-lived `git agent list` runs count too. Sides:
//! - `git agent watch` in a pseudo-terminal of 120×40 (measured from the `git` that runs it);
//! - the polling loop a user runs today: `while true; do git agent list >/dev/null; sleep 1;
//!   done`;
//! - `watch -n1 git agent list` (procps' `watch`, in the same pseudo-terminal size), if
//!   installed.
//!
//! Options: `--seconds N` (default 30: `/proc` counts CPU time in ticks of 10 ms, so 10 s
//! resolve only 0.1% of a core, about what watch uses idle), `--sessions N` (20), `--files N`
//! (1000, the repository's size), `--dir DIR` (where to build; default a temporary folder,
//! removed afterwards). Every agent is stopped at the end, also when the bench fails.
//!
//! Linux only (`/proc`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use common::{World, synthetic};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Opts {
    seconds: u64,
    sessions: usize,
    files: usize,
    dir: Option<PathBuf>,
}

fn opts() -> Opts {
    let mut o = Opts {
        seconds: 30,
        sessions: 20,
        files: 1000,
        dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--seconds" => o.seconds = val().parse().expect("--seconds N"),
            "--sessions" => o.sessions = val().parse().expect("--sessions N"),
            "--files" => o.files = val().parse().expect("--files N"),
            "--dir" => o.dir = Some(PathBuf::from(val())),
            "--bench" => {} // passed by cargo bench
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// Stops what the bench started, whatever way it ends: the process groups still listed, then
/// every agent of the repository (before the temporary folder goes).
struct Cleanup<'a> {
    w: &'a World,
    repo: &'a Path,
    groups: RefCell<Vec<i32>>,
}

impl Cleanup<'_> {
    fn started(&self, group: u32) {
        self.groups.borrow_mut().push(group as i32);
    }

    /// Ends the process group `group` started (all of it: the loop's current `git` too).
    fn stop(&self, group: u32) {
        let _ = killpg(Pid::from_raw(group as i32), Signal::SIGKILL);
        self.groups.borrow_mut().retain(|g| *g != group as i32);
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for g in self.groups.borrow().iter() {
            let _ = killpg(Pid::from_raw(*g), Signal::SIGKILL);
        }
        let _ = self
            .w
            .cmd("git", self.repo)
            .args(["agent", "stop", "--all"])
            .output();
    }
}

/// A program in a pseudo-terminal of 120×40, its screen read back with `vt100`.
struct Pty {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    parser: Arc<Mutex<vt100::Parser>>,
    // Closing the master hangs up the terminal: kept until the program is stopped.
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Pty {
    fn start(w: &World, dir: &Path, argv: &[&str]) -> Self {
        let (rows, cols): (u16, u16) = (40, 120);
        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal");
        let mut cmd = CommandBuilder::new(argv[0]);
        cmd.args(&argv[1..]);
        for (k, v) in w.vars() {
            cmd.env(k, v);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("GIT_DIR");
        cmd.env_remove("GIT_WORK_TREE");
        cmd.cwd(dir);
        let child = pty.slave.spawn_command(cmd).expect("spawn in the pty");
        drop(pty.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            rows.try_into().unwrap(),
            cols.try_into().unwrap(),
            0,
        )));
        let mut reader = pty.master.try_clone_reader().unwrap();
        let sink = Arc::clone(&parser);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().process(&buf[..n]);
            }
        });
        Self {
            child,
            parser,
            _master: pty.master,
        }
    }

    fn pid(&self) -> u32 {
        self.child.process_id().expect("a pid")
    }

    fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.parser.lock().unwrap().screen().contents();
            if cond(&screen) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// CPU ticks (user + system) used so far by `root`'s process tree: each live process's own
/// time plus what its reaped children used. A child reaped between two reads of `/proc` can
/// be missed or counted twice once; over seconds of measuring that is noise.
fn tree_ticks(root: u32) -> u64 {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut ticks: HashMap<u32, u64> = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        // After the command name in parentheses: state is field 3, ppid 4, utime 14, stime 15,
        // cutime 16, cstime 17.
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let num = |i: usize| f[i].parse::<u64>().unwrap_or(0);
        children.entry(num(1) as u32).or_default().push(pid);
        ticks.insert(pid, num(11) + num(12) + num(13) + num(14));
    }
    let mut total = 0;
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        total += ticks.get(&pid).copied().unwrap_or(0);
        todo.extend(children.get(&pid).into_iter().flatten());
    }
    total
}

/// The unit of `/proc`'s CPU times (USER_HZ).
fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64
}

/// The share of one core `root`'s tree used over `seconds` (after 2 s to settle), in percent.
fn idle_share(root: u32, seconds: u64) -> f64 {
    std::thread::sleep(Duration::from_secs(2));
    let hz = ticks_per_second();
    let before = tree_ticks(root);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let used = (tree_ticks(root) - before) as f64 / hz;
    used / start.elapsed().as_secs_f64() * 100.0
}

fn main() {
    let o = opts();
    let (tmp, w) = World::new(o.dir.as_deref());
    w.banner();
    let repo = w.root.join("repo");
    eprintln!("building a {}-file repository…", o.files);
    synthetic(&w, &repo, o.files);
    let cleanup = Cleanup {
        w: &w,
        repo: &repo,
        groups: RefCell::new(Vec::new()),
    };
    let running = o.sessions.div_ceil(2);
    eprintln!("starting {} sessions ({running} left running)…", o.sessions);
    let mut ended = Vec::new();
    for i in 0..o.sessions {
        let name = format!("s{i:02}");
        let agent = if i % 2 == 0 { "sleep 86400" } else { "true" };
        w.sh(
            &repo,
            &format!("git agent new --name {name} -m t -- {agent} >/dev/null"),
        );
        if i % 2 == 1 {
            ended.push(name);
        }
    }
    if !ended.is_empty() {
        w.sh(
            &repo,
            &format!("git agent wait {} >/dev/null", ended.join(" ")),
        );
    }

    eprintln!("measuring git agent watch for {} s…", o.seconds);
    let mut watch = Pty::start(&w, &repo, &["git", "agent", "watch"]);
    cleanup.started(watch.pid());
    let shown = format!("{} session(s)", o.sessions);
    watch.wait_for("watch to show the sessions", |s| s.contains(&shown));
    let ours = idle_share(watch.pid(), o.seconds);
    cleanup.stop(watch.pid());
    let _ = watch.child.wait();

    let mut rows = Vec::new();
    eprintln!("measuring the polling loop for {} s…", o.seconds);
    let script = "while true; do git agent list >/dev/null; sleep 1; done";
    let mut sh = w
        .cmd("sh", &repo)
        .args(["-c", script])
        .spawn(Stdio::null(), Stdio::null(), Stdio::null(), true)
        .expect("sh");
    cleanup.started(sh.id());
    rows.push((
        "`while true; do git agent list; sleep 1; done`".to_owned(),
        idle_share(sh.id(), o.seconds),
    ));
    cleanup.stop(sh.id());
    let _ = sh.wait();

    if which::which("watch").is_ok() {
        eprintln!("measuring watch -n1 git agent list for {} s…", o.seconds);
        let mut procps = Pty::start(&w, &repo, &["watch", "-n1", "git", "agent", "list"]);
        cleanup.started(procps.pid());
        procps.wait_for("watch -n1 to show the sessions", |s| s.contains("s00"));
        rows.push((
            "`watch -n1 git agent list`".to_owned(),
            idle_share(procps.pid(), o.seconds),
        ));
        cleanup.stop(procps.pid());
        let _ = procps.child.wait();
    } else {
        eprintln!("(no `watch` installed: its row is left out)");
    }

    let hz = ticks_per_second();
    println!();
    println!(
        "idle CPU over {} s, {} sessions ({running} running, {} ended), share of one core \
         (resolution {:.3}%: CPU time counts in ticks of 1/{hz} s; raise --seconds for finer):",
        o.seconds,
        o.sessions,
        o.sessions - running,
        100.0 / (hz * o.seconds as f64),
    );
    println!();
    println!("| what | git agent watch | floor | floor is | ratio | target |");
    println!("|---|---:|---:|---|---:|---:|");
    for (name, floor) in &rows {
        println!(
            "| idle, {} sessions | {ours:.2}% | {floor:.2}% | {name} | {:.2}× | < 2% {} |",
            o.sessions,
            ours / floor,
            if ours < 2.0 { "✓" } else { "✗" }
        );
    }
    drop(cleanup);
    if o.dir.is_some() {
        println!("\n(kept in {})", tmp.keep().display());
    }
}
