//! `git agent conflicts`: which sessions would conflict with their target and with each other,
//! and the order to merge them in.
//!
//! Every merge here is computed in memory ([`git_agent::git::merging`]) on each session's whole
//! result, uncommitted work included: nothing is written, no checkout is touched.
//!
//! The suggested order, the rule: at each step, among the sessions that still merge cleanly
//! onto what has landed so far, take the one that conflicts with the fewest of the sessions
//! still waiting (pairwise); ties go to the larger change (lines added and removed), then to
//! the older session. The order is then checked by merging the sessions one onto the other in
//! memory; a session that conflicts with what landed before it waits for a sync. Merges are
//! only computed where they can tell something: two sessions that touch no common path
//! cannot conflict, and a session that conflicts with one landed before it (pairwise) waits
//! without another merge. This keeps
//! the most work landing without conflicts: a session that conflicts with many others goes
//! last, so the others are not held up by it.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use git_agent::git::merging::{Memory, Result_};
use git_agent::git::repo::Repo;
use git_agent::session::Session;
use gix::ObjectId;
use serde::Serialize;

/// One session, measured.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    #[serde(skip)]
    pub branch: String,
    pub target: String,
    /// The commit standing for its result (virtual when it has uncommitted work).
    pub commit: String,
    pub uncommitted: bool,
    /// Lines added and removed by its work.
    pub lines: u64,
    /// Conflicts with its target; empty when it merges cleanly.
    pub target_conflicts: Vec<String>,
    #[serde(skip)]
    pub result: Option<Result_>,
    #[serde(skip)]
    pub target_tip: Option<ObjectId>,
    #[serde(skip)]
    pub created: String,
    /// Its result contains the target's tip (the target has not moved since).
    #[serde(skip)]
    pub fast_forward: bool,
}

/// Two sessions that conflict.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub conflicts: Vec<String>,
    /// They touch no common path (clean without merging).
    #[serde(skip)]
    pub disjoint: bool,
}

/// A session that cannot land cleanly in the suggested order, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    pub name: String,
    /// What it conflicts with: its target, or the sessions merged before it.
    pub with: String,
    pub paths: Vec<String>,
}

/// The whole prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub sessions: Vec<Entry>,
    /// Every pair that was checked, clean or not.
    pub pairs: Vec<Pair>,
    pub order: Vec<String>,
    pub waiting: Vec<Waiting>,
}

impl Prediction {
    pub fn any_conflict(&self) -> bool {
        self.sessions.iter().any(|e| !e.target_conflicts.is_empty())
            || self.pairs.iter().any(|p| !p.conflicts.is_empty())
    }

    fn pair(&self, a: &str, b: &str) -> Option<&Pair> {
        self.pairs
            .iter()
            .find(|p| (p.a == a && p.b == b) || (p.a == b && p.b == a))
    }
}

/// Predicts every merge among `sessions` (each against `targets[name]`).
pub fn predict(
    repo: &Repo,
    mem: &Memory,
    sessions: &[Session],
    targets: &BTreeMap<String, (String, ObjectId)>,
    scan_all: bool,
) -> Result<Prediction> {
    let statuses = scan(sessions, scan_all);
    let mut entries = Vec::new();
    for (s, status) in sessions.iter().zip(statuses) {
        let (target, tip) = &targets[&s.name];
        let result = mem.session_result_from(s, status?.as_deref())?;
        // A target that has not moved since merges cleanly: no need to merge it.
        let fast_forward = mem.is_ancestor(*tip, result.commit)?;
        let target_conflicts = if fast_forward {
            Vec::new()
        } else {
            mem.merge_named(*tip, result.commit, Some((target, &s.branch)))?
                .conflicts
        };
        let lines = match mem.merge_base(*tip, result.commit)? {
            Some(base) => {
                let (a, d) = mem.line_counts(mem.tree_of(base)?, mem.tree_of(result.commit)?)?;
                a + d
            }
            None => 0,
        };
        entries.push(Entry {
            name: s.name.clone(),
            branch: s.branch.clone(),
            target: target.clone(),
            commit: result.commit.to_string(),
            uncommitted: result.uncommitted,
            lines,
            target_conflicts,
            fast_forward,
            result: Some(result),
            target_tip: Some(*tip),
            created: s.created_at.to_string(),
        });
    }
    let mut touched: HashMap<(ObjectId, ObjectId), Vec<String>> = HashMap::new();
    let mut pairs = Vec::new();
    for (i, a) in entries.iter().enumerate() {
        for b in &entries[i + 1..] {
            let (Some(ra), Some(rb)) = (a.result, b.result) else {
                continue;
            };
            // Two sides that touch no common path (nor a file where the other has a
            // folder) merge cleanly: no need to merge them.
            let clean = match mem.merge_base(ra.commit, rb.commit)? {
                Some(base) => {
                    paths_since(mem, &mut touched, base, ra.commit)?;
                    paths_since(mem, &mut touched, base, rb.commit)?;
                    disjoint(&touched[&(base, ra.commit)], &touched[&(base, rb.commit)])
                }
                None => false,
            };
            let conflicts = if clean {
                Vec::new()
            } else {
                mem.merge_named(ra.commit, rb.commit, Some((&a.branch, &b.branch)))?
                    .conflicts
            };
            pairs.push(Pair {
                a: a.name.clone(),
                b: b.name.clone(),
                conflicts,
                disjoint: clean,
            });
        }
    }
    let mut prediction = Prediction {
        sessions: entries,
        pairs,
        order: Vec::new(),
        waiting: Vec::new(),
    };
    suggest_order(repo, mem, &mut prediction)?;
    Ok(prediction)
}

/// The uncommitted work of each session's worktree, scanned in parallel (one worker per
/// core), each `None` when it has none or cannot have any. Every worktree is looked at:
/// - with `scan_all`, or where the agent is at work, or a run left uncommitted work (or never
///   recorded what it left), or its supervisor does not commit for it: a full `git status`;
/// - else (the run ended with everything committed) first a quick in-process look
///   ([`may_have_changed`]); only if something may have changed since, by hand for
///   instance, the full `git status`.
///
/// Nothing here takes `index.lock` (invariant 6).
fn scan(sessions: &[Session], scan_all: bool) -> Vec<Result<Option<String>>> {
    git_agent::process::on_all_cores(sessions, |s| {
        if !s.worktree.is_dir() {
            return Ok(None);
        }
        git_agent::git::link::guard(s)?;
        let left_clean = s
            .changes
            .as_ref()
            .filter(|c| c.uncommitted == Some(0))
            .and_then(|c| c.at);
        let look = match left_clean {
            Some(at) if !scan_all && s.auto_commit && !s.live_state().is_active() => {
                may_have_changed(&s.worktree, at)
            }
            _ => true,
        };
        look.then(|| git_agent::git::changes::status(&s.worktree, &s.left_out()))
            .transpose()
    })
}

/// False only if nothing in `worktree` can have changed since `since` (when its last run
/// ended with nothing uncommitted): its index was not written since (nothing staged, no
/// checkout), every tracked file still has the stat data its index recorded and none is
/// racily clean, and no folder holding tracked files changed since the index was written
/// (creating, deleting or renaming a file changes its folder). Reads the index and stats
/// files in-process, writes nothing; anything unexpected (a submodule, a conflict, an
/// unreadable index) answers true, so the caller looks with `git status`.
fn may_have_changed(worktree: &std::path::Path, since: jiff::Timestamp) -> bool {
    unchanged_since(worktree, since).is_none_or(|unchanged| !unchanged)
}

fn unchanged_since(worktree: &std::path::Path, since: jiff::Timestamp) -> Option<bool> {
    use gix::index::entry::{Flags, Stage};
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::fs::MetadataExt as _;
    let repo = gix::open_opts(worktree, gix::open::Options::isolated()).ok()?;
    let index = gix::index::File::at(
        repo.index_path(),
        repo.object_hash(),
        true,
        Default::default(),
    )
    .ok()?;
    let stamp = index.timestamp();
    let written = (stamp.unix_seconds(), stamp.nanoseconds());
    if written
        > (
            since.as_second(),
            u32::try_from(since.subsec_nanosecond()).ok()?,
        )
    {
        return Some(false);
    }
    // At or after the index was written: racily clean, or changed since.
    let fresh = |secs: i64, nanos: i64| (secs, u32::try_from(nanos).unwrap_or(u32::MAX)) >= written;
    let mut folders: HashSet<&[u8]> = HashSet::from([&b""[..]]);
    // Entries come sorted by path, so those of one folder follow each other: each file is
    // looked up from its folder's open descriptor (`fstatat`), not by walking its whole path
    // again, which halves the cost on deep worktrees.
    let mut open_folder: Option<(&[u8], std::fs::File)> = None;
    for entry in index.entries() {
        if entry.flags.contains(Flags::SKIP_WORKTREE) {
            continue;
        }
        if entry.flags.contains(Flags::INTENT_TO_ADD)
            || entry.stage() != Stage::Unconflicted
            || entry.mode.is_submodule()
            || entry.mode.is_sparse()
        {
            return Some(false);
        }
        let path: &[u8] = entry.path(&index).as_ref();
        let (folder, name) = match path.iter().rposition(|b| *b == b'/') {
            Some(slash) => (&path[..slash], &path[slash + 1..]),
            None => (&b""[..], path),
        };
        if open_folder.as_ref().is_none_or(|(f, _)| *f != folder) {
            let dir =
                std::fs::File::open(worktree.join(std::ffi::OsStr::from_bytes(folder))).ok()?;
            open_folder = Some((folder, dir));
        }
        let (_, dir) = open_folder.as_ref()?;
        let meta = nix::sys::stat::fstatat(
            dir,
            std::ffi::OsStr::from_bytes(name),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .ok()?;
        let st = &entry.stat;
        let same = meta.st_mtime == i64::from(st.mtime.secs)
            && meta.st_mtime_nsec == i64::from(st.mtime.nsecs)
            && meta.st_ctime == i64::from(st.ctime.secs)
            && meta.st_ctime_nsec == i64::from(st.ctime.nsecs)
            // Truncated to 32 bits, as git stores them.
            && meta.st_size as u32 == st.size
            && meta.st_ino as u32 == st.ino;
        if !same || fresh(meta.st_mtime, meta.st_mtime_nsec) {
            return Some(false);
        }
        let mut rest = path;
        while let Some(slash) = rest.iter().rposition(|b| *b == b'/') {
            rest = &rest[..slash];
            if !folders.insert(rest) {
                break;
            }
        }
    }
    for folder in folders {
        let dir = worktree.join(std::ffi::OsStr::from_bytes(folder));
        let meta = std::fs::symlink_metadata(dir).ok()?;
        if fresh(meta.mtime(), meta.mtime_nsec()) {
            return Some(false);
        }
    }
    Some(true)
}

/// Puts the paths `commit` changed since `base` in `cache` (once per pair of commits).
fn paths_since(
    mem: &Memory,
    cache: &mut HashMap<(ObjectId, ObjectId), Vec<String>>,
    base: ObjectId,
    commit: ObjectId,
) -> Result<()> {
    if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry((base, commit)) {
        slot.insert(mem.changed_paths(mem.tree_of(base)?, mem.tree_of(commit)?)?);
    }
    Ok(())
}

/// No path of one side is a path, or a folder of a path, of the other.
fn disjoint(a: &[String], b: &[String]) -> bool {
    let files: HashSet<&str> = a.iter().map(String::as_str).collect();
    let mut folders: HashSet<&str> = HashSet::new();
    for p in a {
        let mut rest = p.as_str();
        while let Some((dir, _)) = rest.rsplit_once('/') {
            folders.insert(dir);
            rest = dir;
        }
    }
    b.iter().all(|q| {
        if files.contains(q.as_str()) || folders.contains(q.as_str()) {
            return false;
        }
        let mut rest = q.as_str();
        while let Some((dir, _)) = rest.rsplit_once('/') {
            if files.contains(dir) {
                return false;
            }
            rest = dir;
        }
        true
    })
}

/// Fills in `order` and `waiting` (see the module docs for the rule).
fn suggest_order(_repo: &Repo, mem: &Memory, p: &mut Prediction) -> Result<()> {
    let mut remaining: Vec<usize> = Vec::new();
    for (i, e) in p.sessions.iter().enumerate() {
        if e.target_conflicts.is_empty() {
            remaining.push(i);
        } else {
            p.waiting.push(Waiting {
                name: e.name.clone(),
                with: e.target.clone(),
                paths: e.target_conflicts.clone(),
            });
        }
    }
    let mut picked = Vec::new();
    while !remaining.is_empty() {
        let degree = |i: usize| {
            remaining
                .iter()
                .filter(|&&j| j != i)
                .filter(|&&j| {
                    p.pair(&p.sessions[i].name, &p.sessions[j].name)
                        .is_some_and(|pair| !pair.conflicts.is_empty())
                })
                .count()
        };
        let best = *remaining
            .iter()
            .min_by(|&&a, &&b| {
                let (ea, eb) = (&p.sessions[a], &p.sessions[b]);
                degree(a)
                    .cmp(&degree(b))
                    .then(eb.lines.cmp(&ea.lines))
                    .then(ea.created.cmp(&eb.created))
                    .then(ea.name.cmp(&eb.name))
            })
            .expect("not empty");
        remaining.retain(|&i| i != best);
        picked.push(best);
    }
    // Check the order by landing them one onto the other, per target, in memory. A session
    // that contains its target's tip and touches nothing the ones before it touched lands
    // cleanly by construction; it is merged into the running result only when a later one
    // needs a real merge.
    struct Landing {
        acc: ObjectId,
        pending: Vec<ObjectId>,
        before: Vec<String>,
    }
    let mut landed: BTreeMap<String, Landing> = BTreeMap::new();
    for i in picked {
        let e = &p.sessions[i];
        let (Some(result), Some(tip)) = (e.result, e.target_tip) else {
            continue;
        };
        let l = landed.entry(e.target.clone()).or_insert_with(|| Landing {
            acc: tip,
            pending: Vec::new(),
            before: Vec::new(),
        });
        let apart = e.fast_forward
            && l.before
                .iter()
                .all(|b| p.pair(&e.name, b).is_some_and(|x| x.disjoint));
        if apart {
            l.pending.push(result.commit);
            l.before.push(e.name.clone());
            p.order.push(e.name.clone());
            continue;
        }
        // It conflicts with one that landed before it: it waits (the pair says where).
        if let Some((b, pair)) = l.before.iter().find_map(|b| {
            p.pair(&e.name, b)
                .filter(|x| !x.conflicts.is_empty())
                .map(|x| (b.clone(), x.conflicts.clone()))
        }) {
            p.waiting.push(Waiting {
                name: e.name.clone(),
                with: b,
                paths: pair,
            });
            continue;
        }
        for pend in std::mem::take(&mut l.pending) {
            let m = mem.merge(l.acc, pend)?;
            l.acc = mem.virtual_commit(m.tree, &[l.acc, pend])?;
        }
        let (acc, before) = (&mut l.acc, &mut l.before);
        let m = mem.merge(*acc, result.commit)?;
        if m.is_clean() {
            *acc = mem.virtual_commit(m.tree, &[*acc, result.commit])?;
            before.push(e.name.clone());
            p.order.push(e.name.clone());
        } else {
            // Name the ones it conflicts with pairwise; all of them if it takes several.
            let culprits: Vec<&String> = before
                .iter()
                .filter(|b| p.pair(&e.name, b).is_some_and(|x| !x.conflicts.is_empty()))
                .collect();
            let with = if culprits.is_empty() {
                before.join(", ")
            } else {
                culprits
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            p.waiting.push(Waiting {
                name: e.name.clone(),
                with,
                paths: m.conflicts,
            });
        }
    }
    Ok(())
}

/// The human report: a matrix, the conflicting paths, the order.
pub fn render(p: &Prediction) -> String {
    let mut out = String::new();
    let names: Vec<&str> = p.sessions.iter().map(|e| e.name.as_str()).collect();
    let mut header = vec!["", "TARGET"];
    header.extend(names.iter().copied());
    let cell = |conflicts: &[String]| {
        if conflicts.is_empty() {
            "ok".to_owned()
        } else {
            format!("{} ✗", conflicts.len())
        }
    };
    let rows: Vec<Vec<String>> = p
        .sessions
        .iter()
        .map(|e| {
            let mut row = vec![
                e.name.clone(),
                format!("{} {}", e.target, cell(&e.target_conflicts)),
            ];
            for other in &names {
                row.push(if *other == e.name {
                    "·".to_owned()
                } else {
                    p.pair(&e.name, other)
                        .map_or_else(String::new, |pair| cell(&pair.conflicts))
                });
            }
            row
        })
        .collect();
    out.push_str(&git_agent::ui::table(&header, &rows));
    let uncommitted: Vec<&str> = p
        .sessions
        .iter()
        .filter(|e| e.uncommitted)
        .map(|e| e.name.as_str())
        .collect();
    if !uncommitted.is_empty() {
        out.push_str(&format!(
            "\n(with their uncommitted changes: {})\n",
            uncommitted.join(", ")
        ));
    }
    let conflicts: Vec<String> = p
        .sessions
        .iter()
        .map(|e| (&e.name, &e.target, &e.target_conflicts))
        .chain(p.pairs.iter().map(|x| (&x.a, &x.b, &x.conflicts)))
        .filter(|(_, _, paths)| !paths.is_empty())
        .map(|(a, b, paths)| format!("  {a} × {b}: {}", paths.join(", ")))
        .collect();
    if conflicts.is_empty() {
        out.push_str("\nNo conflicts.\n");
    } else {
        out.push_str("\nConflicts:\n");
        out.push_str(&conflicts.join("\n"));
        out.push('\n');
    }
    if !p.order.is_empty() {
        out.push_str(&format!("\nMerge order: {}\n", p.order.join(", ")));
    }
    for w in &p.waiting {
        out.push_str(&format!(
            "Then sync {} (conflicts with {} in {})\n",
            w.name,
            w.with,
            w.paths.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::disjoint;

    fn v(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn disjoint_paths_and_folders() {
        assert!(disjoint(&v(&["a/x", "b"]), &v(&["a/y", "c/d"])));
        assert!(!disjoint(&v(&["a/x"]), &v(&["a/x"])));
        // A file where the other side has a folder, either way round.
        assert!(!disjoint(&v(&["a"]), &v(&["a/x"])));
        assert!(!disjoint(&v(&["a/b/c"]), &v(&["a/b"])));
        assert!(disjoint(&v(&[]), &v(&["x"])));
    }
}
