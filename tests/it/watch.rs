//! `git agent watch`, driven in a pseudo-terminal (80×24) through real git, its screen read
//! back with a terminal emulator (`vt100`).

use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use crate::support::TestEnv;

/// A running `git agent watch` and the screen it draws.
pub struct Watch {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn std::io::Write + Send>,
    /// The terminal's master side: it must outlive the child (closing it hangs up the
    /// terminal).
    master: Box<dyn portable_pty::MasterPty + Send>,
    pub parser: Arc<Mutex<vt100::Parser>>,
    /// BEL bytes watch wrote (its bell; it sets no window title, whose end could be one).
    bells: Arc<std::sync::atomic::AtomicUsize>,
}

/// `program args…` started in a new pseudo-terminal of `(rows, cols)` with the environment of
/// `env`'s commands, in its repository: the child and the terminal's master side.
fn spawn_in_pty(
    env: &TestEnv,
    program: &str,
    args: &[&str],
    (rows, cols): (u16, u16),
) -> (
    Box<dyn portable_pty::Child + Send + Sync>,
    Box<dyn portable_pty::MasterPty + Send>,
) {
    let pty = native_pty_system()
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("a pseudo-terminal");
    let template = env.command("git", &env.repo);
    let mut cmd = CommandBuilder::new(program);
    cmd.env_clear();
    for (k, v) in template.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("TERM", "xterm-256color");
    cmd.args(args);
    cmd.cwd(&env.repo);
    let child = pty.slave.spawn_command(cmd).expect("spawn watch");
    drop(pty.slave);
    (child, pty.master)
}

impl Watch {
    pub fn start(env: &TestEnv) -> Self {
        Self::start_sized(env, 24, 80)
    }

    /// Watch on a terminal of `rows` × `cols`.
    pub fn start_sized(env: &TestEnv, rows: u16, cols: u16) -> Self {
        Self::start_command(env, &["agent", "watch"], rows, cols)
    }

    /// `git ARGS…` on a terminal of `rows` × `cols` (another command's menus, say).
    pub fn start_command(env: &TestEnv, args: &[&str], rows: u16, cols: u16) -> Self {
        let (child, master) = spawn_in_pty(env, "git", args, (rows, cols));
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            rows.try_into().unwrap(),
            cols.try_into().unwrap(),
            0,
        )));
        let mut reader = master.try_clone_reader().unwrap();
        let sink = Arc::clone(&parser);
        let bells = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let rung = Arc::clone(&bells);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let n_bells = buf[..n].iter().filter(|b| **b == 0x07).count();
                rung.fetch_add(n_bells, std::sync::atomic::Ordering::SeqCst);
                sink.lock().unwrap().process(&buf[..n]);
            }
        });
        let writer = master.take_writer().unwrap();
        Self {
            child,
            writer,
            master,
            parser,
            bells,
        }
    }

    /// Resizes the terminal (watch gets SIGWINCH) and the emulator reading it.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        self.parser
            .lock()
            .unwrap()
            .screen_mut()
            .set_size(rows.try_into().unwrap(), cols.try_into().unwrap());
    }

    /// How many times watch rang the terminal's bell.
    fn bells(&self) -> usize {
        self.bells.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits (up to `within`) until the screen satisfies `cond`; returns the screen.
    #[track_caller]
    pub fn wait_for_within(
        &self,
        what: &str,
        within: Duration,
        cond: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if cond(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[track_caller]
    pub fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, Duration::from_secs(15), cond)
    }

    pub fn keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// Waits for watch to exit; its exit code.
    #[track_caller]
    pub fn exit_code(&mut self) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.exit_code();
            }
            assert!(Instant::now() < deadline, "watch did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The screen line that shows session `name` (a row starts with the name, maybe indented).
pub fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} ")))
}

pub fn shows(screen: &str, name: &str, state: &str) -> bool {
    row(screen, name).is_some_and(|l| l.contains(state))
}

/// Three sessions: `r` running (until `g-r`), `w` waiting (until `g-w`), `d` done.
fn three(env: &TestEnv) {
    let gate = |g: &str| env.path(g).display().to_string();
    env.spawn(&["--name", "d", "t"], "print finished");
    env.spawn(&["--name", "r", "t"], &format!("wait-for {}", gate("g-r")));
    env.spawn(
        &["--name", "w", "t"],
        &format!("notify waiting need an API token\nwait-for {}", gate("g-w")),
    );
    env.wait_state("d", "done");
    env.wait_until("w waiting", || {
        env.agent(&["list", "--json"]).ok().json()["sessions"][0]["state"] == "waiting"
    });
}

#[test]
fn watch_shows_the_sessions_follows_them_and_jumps_to_the_one_waiting() {
    let env = TestEnv::new();
    three(&env);
    let mut watch = Watch::start(&env);
    let screen = watch.wait_for("the three sessions", |s| {
        shows(s, "w", "waiting") && shows(s, "r", "running") && shows(s, "d", "done")
    });
    // As `list` sorts: what needs the user first.
    let at = |name: &str| screen.find(row(&screen, name).unwrap()).unwrap();
    assert!(at("w") < at("d") && at("d") < at("r"), "{screen}");
    assert!(
        row(&screen, "w").unwrap().contains("need an API token"),
        "{screen}"
    );
    // The log pane follows the selected session.
    watch.wait_for("d's log", |s| s.contains("log: w (waiting)"));
    watch.keys("jj");
    watch.wait_for("r selected", |s| s.contains("log: r (running)"));
    watch.keys("w");
    watch.wait_for("w selected again", |s| s.contains("log: w (waiting)"));
    // `agent/watching` names the session shown, for notifications.
    let watching = env.state_dir().join("watching");
    let text = std::fs::read_to_string(&watching).unwrap();
    assert!(text.contains(r#""session": "w""#), "{text}");

    // One ends: the screen says so within a second.
    env.touch("g-r");
    env.wait_state("r", "done");
    let seen = Instant::now();
    watch.wait_for_within("r done", Duration::from_secs(1), |s| shows(s, "r", "done"));
    assert!(seen.elapsed() < Duration::from_secs(1));

    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
    assert!(!watching.exists(), "watching is removed on exit");
    env.touch("g-w");
}

#[test]
fn watch_sends_a_follow_up_and_stops_a_running_agent() {
    let env = TestEnv::new();
    env.spawn(&["--name", "d", "t"], "print finished");
    env.spawn(&["--name", "r", "t"], "wait-for never");
    env.wait_state("d", "done");
    let mut watch = Watch::start(&env);
    watch.wait_for("both", |s| {
        shows(s, "d", "done") && shows(s, "r", "running")
    });
    // `d` (done) comes first; `s` opens the input line.
    watch.keys("s");
    watch.wait_for("the input line", |s| s.contains("follow-up for d:"));
    watch.keys("also update the changelog\r");
    env.wait_until("the follow-up to reach the agent", || {
        env.calls()
            .iter()
            .filter(|c| c["env"]["GIT_AGENT_NAME"] == "d")
            .any(|c| c.to_string().contains("also update the changelog"))
    });
    watch.wait_for("the delivery line", |s| s.contains("Sent to d"));

    watch.keys("j");
    watch.wait_for("r selected", |s| s.contains("log: r (running)"));
    watch.keys("x");
    env.wait_state("r", "stopped");
    watch.wait_for("r stopped", |s| {
        shows(s, "r", "stopped") && s.contains("r: stopped")
    });
    watch.keys("\x03"); // Ctrl-C quits too
    assert_eq!(watch.exit_code(), 0);
}

#[test]
fn watch_refuses_to_remove_uncommitted_work_and_says_why() {
    let env = TestEnv::new();
    env.spawn(&["--name", "d", "t"], "print finished");
    env.wait_state("d", "done");
    let worktree = env.agents_dir().join("d");
    std::fs::write(worktree.join("draft.txt"), "not committed\n").unwrap();
    let mut watch = Watch::start(&env);
    watch.wait_for("d", |s| shows(s, "d", "done"));
    watch.keys("d");
    let screen = watch.wait_for("the refusal", |s| s.contains("cannot remove d"));
    assert!(screen.contains("draft.txt"), "{screen}");
    assert!(screen.contains("Nothing removed"), "{screen}");
    watch.keys(" ");
    watch.wait_for("the refusal closed", |s| !s.contains("cannot remove d"));
    assert!(worktree.join("draft.txt").exists());
    assert!(env.has_record("d"));
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}

#[test]
fn watch_gives_the_terminal_back_on_quit() {
    let env = TestEnv::new();
    env.spawn(&["--name", "d", "t"], "print finished");
    let mut watch = Watch::start(&env);
    watch.wait_for("d", |s| row(s, "d").is_some());
    {
        let parser = watch.parser.lock().unwrap();
        assert!(parser.screen().alternate_screen());
        assert!(parser.screen().hide_cursor());
    }
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
    // The last bytes may still be on their way.
    std::thread::sleep(Duration::from_millis(200));
    let parser = watch.parser.lock().unwrap();
    assert!(!parser.screen().alternate_screen(), "alternate screen left");
    assert!(!parser.screen().hide_cursor(), "cursor shown again");
}

/// The terminal as `q` leaves it (see above) and no `agent/watching` left behind.
pub fn assert_given_back(env: &TestEnv, watch: &Watch) {
    // The last bytes may still be on their way.
    std::thread::sleep(Duration::from_millis(200));
    let parser = watch.parser.lock().unwrap();
    assert!(!parser.screen().alternate_screen(), "alternate screen left");
    assert!(!parser.screen().hide_cursor(), "cursor shown again");
    assert!(
        !env.state_dir().join("watching").exists(),
        "watching is removed"
    );
}

/// SIGTERM (a `kill`) ends watch as `q` does: the terminal given back, `agent/watching`
/// removed (notifications resume), and exit 128 + 15 as git's.
#[test]
fn watch_gives_the_terminal_back_on_sigterm() {
    let env = TestEnv::new();
    env.spawn(&["--name", "d", "t"], "print finished");
    let mut watch = Watch::start(&env);
    watch.wait_for("d", |s| row(s, "d").is_some());
    let watching = env.state_dir().join("watching");
    env.wait_until("watching written", || watching.exists());
    assert!(watch.parser.lock().unwrap().screen().alternate_screen());
    let pid = watch_process(watch.child.process_id().unwrap());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(watch.exit_code(), 128 + 15);
    assert_given_back(&env, &watch);
}

/// The terminal closed under watch (SIGHUP, every write failing from then on): watch ends
/// quietly, without a panic (exit 128 + 1, not 101) or a hang, and removes `agent/watching`.
#[test]
fn watch_ends_cleanly_when_its_terminal_hangs_up() {
    let env = TestEnv::new();
    env.spawn(&["--name", "d", "t"], "print finished");
    // `git-agent` itself, to see its own exit code (git would die of the SIGHUP too).
    let (mut child, master) = spawn_in_pty(&env, "git-agent", &["watch"], (24, 80));
    let watching = env.state_dir().join("watching");
    env.wait_until("watch to show d", || watching.exists());
    std::thread::sleep(Duration::from_millis(300));
    drop(master); // its only descriptor: the terminal hangs up
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "watch did not exit on hang-up");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.exit_code(), 128 + 1);
    assert!(!watching.exists(), "watching is removed");
}

#[test]
fn watch_without_a_terminal_points_at_list_and_events() {
    let env = TestEnv::new();
    let out = env.agent(&["watch"]).code(3);
    assert!(
        out.stderr.contains("fatal: watch needs a terminal"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: for the sessions as they are: git agent list"),
        "{out}"
    );
    assert!(out.stderr.contains("git agent events -f"), "{out}");
}

/// The bell rings once when a session comes to need the user (it failed), never for one that
/// ends done.
#[test]
fn watch_rings_the_bell_when_a_session_comes_to_need_the_user() {
    let env = TestEnv::new();
    let gate = |g: &str| env.path(g).display().to_string();
    env.spawn(
        &["--name", "ok", "t"],
        &format!("wait-for {}", gate("g-ok")),
    );
    env.spawn(
        &["--name", "bad", "t"],
        &format!("wait-for {}\nexit 3", gate("g-bad")),
    );
    let mut watch = Watch::start(&env);
    watch.wait_for("both running", |s| {
        shows(s, "ok", "running") && shows(s, "bad", "running")
    });
    env.touch("g-ok");
    watch.wait_for("ok done", |s| shows(s, "ok", "done"));
    assert_eq!(watch.bells(), 0, "no bell for a session that ends done");
    env.touch("g-bad");
    watch.wait_for("bad failed", |s| shows(s, "bad", "failed"));
    env.wait_until("the bell", || watch.bells() == 1);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(watch.bells(), 1, "one bell per transition");
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}

/// The diff stat of the selected session: summed up in the log's title on 80 columns; on a
/// wide terminal its files beside the log, committed ones with their lines, uncommitted ones
/// with their status letters; read again when the worktree changes.
#[test]
fn watch_shows_the_selected_sessions_diff_stat() {
    let env = TestEnv::new();
    env.spawn(
        &["--name", "d", "t"],
        "write src/lexer.rs one\\ntwo\ncommit add lexer",
    );
    env.wait_state("d", "done");
    let mut watch = Watch::start(&env);
    watch.wait_for("the summary", |s| {
        s.contains("log: d (done) · 1 file +2 -0")
    });
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);

    std::fs::write(env.agents_dir().join("d/draft.txt"), "wip\n").unwrap();
    let mut watch = Watch::start_sized(&env, 30, 120);
    let screen = watch.wait_for("the files", |s| s.contains("src/lexer.rs"));
    assert!(screen.contains("+2 -0 src/lexer.rs"), "{screen}");
    assert!(screen.contains("?? draft.txt"), "{screen}");
    assert!(screen.contains("1 file +2 -0, 1 uncommitted"), "{screen}");
    // The worktree changes: the stat follows (at the next reload at the latest).
    std::fs::remove_file(env.agents_dir().join("d/draft.txt")).unwrap();
    watch.wait_for("draft gone", |s| {
        !s.contains("draft.txt") && s.contains("· 1 file +2 -0 ")
    });
    watch.keys("q");
    assert_eq!(watch.exit_code(), 0);
}
/// The `git-agent` process git started for `watch` (git runs it as a child).
fn watch_process(git: u32) -> u32 {
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
        let ppid = stat[close + 2..].split_whitespace().nth(1);
        if ppid == Some(&git.to_string()) && stat.contains("(git-agent)") {
            return pid;
        }
    }
    git // git exec'd it
}
