//! `cargo bench --bench compare [-- OPTIONS]`: times git-agent against the git floor, in the
//! same run, on synthetic repositories (or a clone of yours), and prints a table.
//!
//! Every comparison alternates the two sides run by run and reports medians and their ratio.
//! The floors are what a careful script would run instead:
//! - `list` against `git worktree list --porcelain` (the cheapest look at the worktrees);
//! - `list --full` against the naive dashboard loop: per worktree `git status --porcelain`,
//!   `git diff --shortstat BASE...HEAD` and `git rev-list --left-right --count BASE...HEAD`;
//! - `conflicts` on 10 sessions against 45 sequential `git merge-tree --write-tree` calls;
//! - `new` against `git worktree add -b` alone (the checkout is the floor).
//!
//! Options: `--files N` (default 10000), `--sessions N` (50), `--new-files N` (50000; 0 skips
//! `new`), `--runs N` (7), `--repo PATH` (a local clone to use instead of a synthetic one),
//! `--dir DIR` (where to build; default a temporary folder, removed afterwards).
//!
//! The idle CPU of `git agent watch` against a polling loop is `cargo bench --bench watch`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use common::{World, synthetic};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Opts {
    files: usize,
    sessions: usize,
    new_files: usize,
    runs: usize,
    repo: Option<PathBuf>,
    dir: Option<PathBuf>,
}

fn opts() -> Opts {
    let mut o = Opts {
        files: 10_000,
        sessions: 50,
        new_files: 50_000,
        runs: 7,
        repo: None,
        dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--files" => o.files = val().parse().expect("--files N"),
            "--sessions" => o.sessions = val().parse().expect("--sessions N"),
            "--new-files" => o.new_files = val().parse().expect("--new-files N"),
            "--runs" => o.runs = val().parse().expect("--runs N"),
            "--repo" => o.repo = Some(PathBuf::from(val())),
            "--dir" => o.dir = Some(PathBuf::from(val())),
            "--bench" => {} // passed by cargo bench
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// Runs `script` through `sh -c` in `dir`; how long it took.
fn time(w: &World, dir: &Path, script: &str) -> Duration {
    let start = Instant::now();
    let out = w.cmd("sh", dir).args(["-c", script]).output().expect("sh");
    let took = start.elapsed();
    // Exit 1 is a result for some (conflicts found); anything else is a broken bench.
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Row {
    what: String,
    ours: Duration,
    floor: Duration,
    floor_name: String,
    target: f64,
}

/// Alternates `ours` and `floor`, `runs` times each (with optional untimed preparation).
fn compare(
    w: &World,
    dir: &Path,
    runs: usize,
    ours: &str,
    floor: &str,
    prepare: Option<&dyn Fn(usize)>,
) -> (Duration, Duration) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    // One warm-up each.
    if prepare.is_none() {
        time(w, dir, ours);
        time(w, dir, floor);
    }
    for i in 0..runs {
        if let Some(p) = prepare {
            p(i);
        }
        let (ours, floor) = (
            ours.replace("{i}", &i.to_string()),
            floor.replace("{i}", &i.to_string()),
        );
        // Alternate which side goes first; with a preparation (checkouts), let the disk settle
        // before each, so neither pays for the other's writeback.
        let settle = || {
            if prepare.is_some() {
                w.sh(dir, "sync");
            }
        };
        if i % 2 == 0 {
            settle();
            a.push(time(w, dir, &ours));
            settle();
            b.push(time(w, dir, &floor));
        } else {
            settle();
            b.push(time(w, dir, &floor));
            settle();
            a.push(time(w, dir, &ours));
        }
    }
    (median(a), median(b))
}

fn main() {
    let o = opts();
    let (tmp, w) = World::new(o.dir.as_deref());
    let root = w.root.clone();
    w.banner();

    let repo = match &o.repo {
        Some(r) => {
            let dest = root.join("repo");
            w.sh(
                &root,
                &format!(
                    "git clone -q --no-local '{}' '{}'",
                    r.display(),
                    dest.display()
                ),
            );
            dest
        }
        None => {
            let dest = root.join("repo");
            eprintln!("building a {}-file repository…", o.files);
            synthetic(&w, &dest, o.files);
            dest
        }
    };
    let base = String::from_utf8_lossy(
        &w.cmd("git", &repo)
            .args(["symbolic-ref", "--short", "HEAD"])
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .to_owned();
    eprintln!("starting {} sessions…", o.sessions);
    for i in 0..o.sessions {
        // Each changes a file of its own and one of 5 shared ones (so some pairs conflict).
        let agent = format!(
            "git ls-files | sed -n '{}p;{}p' | while read f; do echo \"session {i}\" >> \"$f\"; done; echo new > new-{i}.txt",
            i * 7 % 1000 + 11,
            i % 5 + 1
        );
        w.sh(
            &repo,
            &format!(
                "git agent new --name s{i} -m t -- sh -c '{}' >/dev/null",
                agent.replace('\'', "'\\''")
            ),
        );
    }
    w.sh(&repo, "git agent wait --all >/dev/null");

    let mut rows = Vec::new();
    let (ours, floor) = compare(
        &w,
        &repo,
        o.runs,
        "git agent list",
        "git worktree list --porcelain",
        None,
    );
    rows.push(Row {
        what: format!("list, {} sessions", o.sessions),
        ours,
        floor,
        floor_name: "git worktree list --porcelain".into(),
        target: 2.0,
    });
    let naive = format!(
        "for wt in $(git worktree list --porcelain | sed -n 's/^worktree //p' | tail -n +2); do \
         git -C \"$wt\" --no-optional-locks status --porcelain >/dev/null; \
         git -C \"$wt\" diff --shortstat {base}...HEAD >/dev/null; \
         git -C \"$wt\" rev-list --left-right --count {base}...HEAD >/dev/null; done"
    );
    let runs = o.runs.min(5);
    let (ours, floor) = compare(&w, &repo, runs, "git agent list --full", &naive, None);
    rows.push(Row {
        what: format!("list --full, {} sessions", o.sessions),
        ours,
        floor,
        floor_name: "naive status+diff+rev-list loop".into(),
        target: 0.5,
    });
    let ten: Vec<String> = (0..o.sessions.min(10)).map(|i| format!("s{i}")).collect();
    let mut pairs = String::new();
    for (i, a) in ten.iter().enumerate() {
        for b in &ten[i + 1..] {
            pairs.push_str(&format!(
                "git merge-tree --write-tree agent/{a} agent/{b} >/dev/null; "
            ));
        }
    }
    let n = ten.len();
    let (ours, floor) = compare(
        &w,
        &repo,
        o.runs,
        &format!("git agent conflicts {}", ten.join(" ")),
        &format!("{pairs}true"),
        None,
    );
    rows.push(Row {
        what: format!("conflicts, {n} sessions ({} pairs)", n * (n - 1) / 2),
        ours,
        floor,
        floor_name: format!("{} × git merge-tree --write-tree", n * (n - 1) / 2),
        target: 0.5,
    });

    if o.new_files > 0 {
        let big = root.join("big");
        eprintln!("building a {}-file repository…", o.new_files);
        synthetic(&w, &big, o.new_files);
        let agents = root.join("big.agents");
        let clean = |i: usize| {
            let _ = w
                .cmd("sh", &big)
                .args([
                    "-c",
                    &format!(
                        "git agent rm --force --delete-branch n{i} >/dev/null 2>&1; \
                         git worktree remove --force '{0}/f{i}' 2>/dev/null; git branch -q -D f{i} 2>/dev/null; sync; true",
                        agents.display()
                    ),
                ])
                .status();
        };
        let runs = o.runs.min(5);
        // Against git as it comes, then with the parallel checkout git-agent turns on (what
        // git-agent itself adds).
        for (config, name) in [
            ("", "git worktree add -b"),
            (
                "-c checkout.workers=0 ",
                "git -c checkout.workers=0 worktree add -b",
            ),
        ] {
            let (ours, floor) = compare(
                &w,
                &big,
                runs,
                "git agent new --name n{i} -m t -- sleep 600",
                &format!(
                    "git {config}worktree add -q -b f{{i}} '{}/f{{i}}' HEAD",
                    agents.display()
                ),
                Some(&|i| {
                    if i > 0 {
                        clean(i - 1);
                    }
                }),
            );
            clean(runs - 1);
            rows.push(Row {
                what: format!("new, {}-file repository", o.new_files),
                ours,
                floor,
                floor_name: name.into(),
                target: 1.15,
            });
        }
    }

    println!();
    println!("| what | git-agent | floor | floor is | ratio | target |");
    println!("|---|---:|---:|---|---:|---:|");
    for r in &rows {
        let ratio = r.ours.as_secs_f64() / r.floor.as_secs_f64();
        println!(
            "| {} | {} | {} | {} | {ratio:.2}× | ≤ {}× {} |",
            r.what,
            fmt(r.ours),
            fmt(r.floor),
            r.floor_name,
            r.target,
            if ratio <= r.target { "✓" } else { "✗" }
        );
    }
    // Stop every agent the benchmark started before the folder goes.
    let _ = w
        .cmd("git", &repo)
        .args(["agent", "stop", "--all"])
        .output();
    if o.dir.is_some() {
        println!("\n(kept in {})", tmp.keep().display());
    }
}

fn fmt(d: Duration) -> String {
    if d.as_secs_f64() >= 1.0 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    }
}
