//! Merges computed in memory: conflict prediction, "would merging add anything", and the
//! trees of worktrees with uncommitted work.
//!
//! Invariant: nothing here writes to the repository. Every object a merge produces (merged
//! blobs, trees, the virtual commits standing in for uncommitted work) lives in the memory of
//! one gix handle ([`Memory`]) and is gone when it is dropped; no checkout and no index is
//! touched. The results match `git merge-tree --write-tree` (gix's merge is verified against
//! it; `tests/it/merge.rs` checks the cases we care about: renames, delete/modify, add/add).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context as _, Result};
use gix::ObjectId;
use gix::bstr::ByteSlice as _;
use gix::merge::tree::TreatAsUnresolved;
use gix::objs::tree::EntryKind;

use crate::git::repo::Repo;
use crate::session::Session;

/// A gix handle whose object writes stay in memory.
pub struct Memory {
    repo: gix::Repository,
}

/// The result of one in-memory merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    /// Paths left conflicted (as `git merge-tree --write-tree --name-only` lists them), sorted.
    pub conflicts: Vec<String>,
    /// The merged tree (with conflict markers where there are conflicts).
    pub tree: ObjectId,
}

impl Merge {
    pub fn is_clean(&self) -> bool {
        self.conflicts.is_empty()
    }
}

/// A session's whole result as a commit: the branch tip, or a virtual commit on top of it that
/// holds the worktree's uncommitted changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Result_ {
    pub commit: ObjectId,
    /// The branch tip (the parent of `commit` when there is uncommitted work).
    pub tip: ObjectId,
    /// The worktree had uncommitted changes (staged, unstaged or untracked).
    pub uncommitted: bool,
}

impl Memory {
    pub fn new(repo: &Repo) -> Self {
        let mut repo = repo.gix().clone().with_object_memory();
        repo.object_cache_size_if_unset(64 * 1024 * 1024);
        Self { repo }
    }

    pub fn gix(&self) -> &gix::Repository {
        &self.repo
    }

    /// The commit a revision names.
    pub fn commit_of(&self, spec: &str) -> Result<ObjectId> {
        let id = self
            .repo
            .rev_parse_single(spec)
            .with_context(|| format!("cannot resolve '{spec}'"))?;
        Ok(id.object()?.peel_to_commit()?.id)
    }

    /// The tree of a commit.
    pub fn tree_of(&self, commit: ObjectId) -> Result<ObjectId> {
        Ok(self.repo.find_commit(commit)?.tree_id()?.detach())
    }

    /// The best common ancestor of two commits.
    pub fn merge_base(&self, a: ObjectId, b: ObjectId) -> Result<Option<ObjectId>> {
        Ok(self.repo.merge_base(a, b)?.map(gix::Id::detach))
    }

    /// True if `ancestor` is reachable from `descendant` (or is it).
    pub fn is_ancestor(&self, ancestor: ObjectId, descendant: ObjectId) -> Result<bool> {
        Ok(ancestor == descendant || self.merge_base(ancestor, descendant)? == Some(ancestor))
    }

    /// Merges `theirs` into `ours` as `git merge-tree --write-tree ours theirs` would.
    pub fn merge(&self, ours: ObjectId, theirs: ObjectId) -> Result<Merge> {
        self.merge_named(ours, theirs, None)
    }

    /// [`Memory::merge`], naming the sides as git would (`git merge-tree A B` names them `A`
    /// and `B`: in conflict markers, and in the paths a file/folder conflict moves a file to).
    pub fn merge_named(
        &self,
        ours: ObjectId,
        theirs: ObjectId,
        names: Option<(&str, &str)>,
    ) -> Result<Merge> {
        let options = self.repo.tree_merge_options()?;
        let labels = gix::merge::blob::builtin_driver::text::Labels {
            ancestor: None,
            current: names.map(|(o, _)| o.into()),
            other: names.map(|(_, t)| t.into()),
        };
        let mut outcome = self
            .repo
            .merge_commits(ours, theirs, labels, options.into())
            .context("in-memory merge failed")?;
        let how = TreatAsUnresolved::git();
        let tree = outcome.tree_merge.tree.write()?.detach();
        let mut conflicts = BTreeSet::new();
        if outcome.tree_merge.has_unresolved_conflicts(how) {
            // The paths git would leave at stages 1–3 in the index. Only the folders the
            // conflicts are in matter: an index of those alone, not of the whole tree (which
            // costs tens of milliseconds on 100k files).
            let mut folders = BTreeSet::new();
            for c in outcome
                .tree_merge
                .conflicts
                .iter()
                .filter(|c| c.is_unresolved(how))
            {
                for change in [&c.ours, &c.theirs] {
                    for path in [change.location(), change.source_location()] {
                        let folder = path.rfind_byte(b'/').map_or(&path[..0], |i| &path[..i]);
                        folders.insert(folder.to_str_lossy().into_owned());
                    }
                }
            }
            let subset = self.tree_of_folders(tree, &folders)?;
            let mut index = self.repo.index_from_tree(&subset)?;
            outcome.tree_merge.index_changed_after_applying_conflicts(
                &mut index,
                how,
                gix::merge::tree::apply_index_entries::RemovalMode::Prune,
            );
            for entry in index.entries() {
                if entry.stage_raw() != 0 {
                    conflicts.insert(entry.path(&index).to_str_lossy().into_owned());
                }
            }
            if conflicts.is_empty() {
                // A conflict without index stages (cannot happen with git's rules); name it.
                for c in &outcome.tree_merge.conflicts {
                    if c.is_unresolved(how) {
                        conflicts.insert(c.ours.location().to_str_lossy().into_owned());
                    }
                }
            }
        }
        Ok(Merge {
            conflicts: conflicts.into_iter().collect(),
            tree,
        })
    }

    /// A tree holding only the files directly in `folders` of `tree` (`""`: its root).
    fn tree_of_folders(&self, tree: ObjectId, folders: &BTreeSet<String>) -> Result<ObjectId> {
        let full = self.repo.find_tree(tree)?;
        let mut editor = self
            .repo
            .edit_tree(ObjectId::empty_tree(self.repo.object_hash()))?;
        for folder in folders {
            let sub = if folder.is_empty() {
                full.clone()
            } else {
                match full.lookup_entry_by_path(folder)? {
                    Some(e) if e.mode().is_tree() => e.object()?.into_tree(),
                    _ => continue,
                }
            };
            for entry in sub.iter() {
                let entry = entry?;
                if entry.mode().is_tree() {
                    continue;
                }
                let name = entry.filename().to_str_lossy();
                let path = if folder.is_empty() {
                    name.into_owned()
                } else {
                    format!("{folder}/{name}")
                };
                editor.upsert(path.as_str(), entry.mode().kind(), entry.oid())?;
            }
        }
        Ok(editor.write()?.detach())
    }

    /// The paths that differ between two trees (no rename detection: both sides of a rename
    /// are listed).
    pub fn changed_paths(&self, from: ObjectId, to: ObjectId) -> Result<Vec<String>> {
        let from = self.repo.find_tree(from)?;
        let to = self.repo.find_tree(to)?;
        let mut paths = Vec::new();
        from.changes()?
            .options(|o| {
                o.track_rewrites(None);
            })
            .for_each_to_obtain_tree(&to, |change| {
                if !change.entry_mode().is_tree() {
                    paths.push(change.location().to_str_lossy().into_owned());
                }
                Ok(std::ops::ControlFlow::Continue(()))
            })?;
        paths.sort();
        Ok(paths)
    }

    /// Lines added and removed between two trees.
    pub fn line_counts(&self, from: ObjectId, to: ObjectId) -> Result<(u64, u64)> {
        let from = self.repo.find_tree(from)?;
        let to = self.repo.find_tree(to)?;
        let stats = from
            .changes()?
            .options(|o| {
                o.track_rewrites(None);
            })
            .stats(&to)?;
        Ok((stats.lines_added, stats.lines_removed))
    }

    /// A commit (in memory) with `tree` on top of `parents`.
    pub fn virtual_commit(&self, tree: ObjectId, parents: &[ObjectId]) -> Result<ObjectId> {
        let who = gix::actor::Signature {
            name: "git-agent".into(),
            email: "git-agent@localhost".into(),
            time: gix::date::Time::new(0, 0),
        };
        let commit = gix::objs::Commit {
            tree,
            parents: parents.iter().copied().collect(),
            author: who.clone(),
            committer: who,
            encoding: None,
            message: "virtual commit of git-agent (in memory)".into(),
            extra_headers: Vec::new(),
        };
        Ok(self.repo.write_object(commit)?.detach())
    }

    /// A session's result: its branch tip, plus, if its worktree has uncommitted changes
    /// (not counting the files its agent leaves), a virtual commit holding them.
    pub fn session_result(&self, s: &Session) -> Result<Result_> {
        let status = if s.worktree.is_dir() {
            crate::git::link::guard(s)?;
            Some(crate::git::changes::status(&s.worktree, &s.left_out())?)
        } else {
            None
        };
        self.session_result_from(s, status.as_deref())
    }

    /// [`Memory::session_result`], given the worktree's `git status --porcelain=v2 -z`
    /// (`None`: the branch tip only, without looking at the worktree).
    pub fn session_result_from(&self, s: &Session, status: Option<&str>) -> Result<Result_> {
        let tip = self
            .repo
            .try_find_reference(format!("refs/heads/{}", s.branch).as_str())?
            .with_context(|| format!("the branch {} of '{}' is gone", s.branch, s.name))?
            .peel_to_id()?
            .detach();
        let Some(status) = status.filter(|_| s.worktree.is_dir()) else {
            return Ok(Result_ {
                commit: tip,
                tip,
                uncommitted: false,
            });
        };
        let paths = status_paths(status);
        if paths.is_empty() {
            return Ok(Result_ {
                commit: tip,
                tip,
                uncommitted: false,
            });
        }
        // The worktree's HEAD (normally the tip; it may be elsewhere mid-rebase).
        let wt = gix::open(&s.worktree)
            .with_context(|| format!("cannot open the worktree {}", s.worktree.display()))?;
        let head = wt.head_id().map(gix::Id::detach).unwrap_or(tip);
        let tree = self.worktree_tree(&wt, &s.worktree, head, &paths)?;
        let commit = self.virtual_commit(tree, &[head])?;
        Ok(Result_ {
            commit,
            tip,
            uncommitted: true,
        })
    }

    /// The tree of `head` with the current content of `paths` in the worktree (a missing path
    /// is removed), through the worktree's own clean filters and attributes.
    fn worktree_tree(
        &self,
        wt: &gix::Repository,
        dir: &Path,
        head: ObjectId,
        paths: &[String],
    ) -> Result<ObjectId> {
        let head_tree = self.tree_of(head)?;
        let (mut pipeline, index) = wt.filter_pipeline(None)?;
        let mut editor = self.repo.edit_tree(head_tree)?;
        for path in paths {
            let full = dir.join(path);
            let Ok(meta) = std::fs::symlink_metadata(&full) else {
                editor.remove(path.as_str())?;
                continue;
            };
            let (kind, data) = if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&full)?;
                (
                    EntryKind::Link,
                    gix::path::into_bstr(target)?.into_owned().into(),
                )
            } else if meta.is_file() {
                use std::os::unix::fs::PermissionsExt as _;
                let file = std::fs::File::open(&full)
                    .with_context(|| format!("cannot read {}", full.display()))?;
                let mut converted = pipeline.convert_to_git(file, Path::new(path), &index)?;
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut converted, &mut data)?;
                let kind = if meta.permissions().mode() & 0o111 != 0 {
                    EntryKind::BlobExecutable
                } else {
                    EntryKind::Blob
                };
                (kind, data)
            } else {
                // A directory (a nested repository) or something else git would not add as a
                // file: what is committed stands.
                continue;
            };
            let id = self.repo.write_blob(&data)?.detach();
            editor.upsert(path.as_str(), kind, id)?;
        }
        Ok(editor.write()?.detach())
    }
}

/// The paths the entries of `git status --porcelain=v2 -z` name (both for renames; not
/// ignored files, nor untracked directories git shows collapsed), sorted, once each.
pub fn status_paths(status: &str) -> Vec<String> {
    let entries = crate::git::status::parse(status);
    let paths: BTreeSet<&str> = entries
        .iter()
        .filter(|e| !e.is_ignored())
        .flat_map(crate::git::StatusEntry::paths)
        .filter(|p| !p.ends_with('/'))
        .collect();
    paths.into_iter().map(str::to_owned).collect()
}

/// The branch a session's work goes to by default: its base branch (for a remote-tracking
/// base such as `origin/main`, the local `main`). `None` when it was started from a commit or
/// a tag, or the branch no longer exists.
pub fn default_target(repo: &Repo, s: &Session) -> Option<String> {
    let base = s.base.ref_name.as_deref()?;
    let branch = if let Some(b) = base.strip_prefix("refs/heads/") {
        b.to_owned()
    } else {
        let rest = base.strip_prefix("refs/remotes/")?;
        rest.split_once('/')?.1.to_owned()
    };
    (branch != s.branch && repo.branch_exists(&branch).ok()?).then_some(branch)
}

/// The remote-tracking ref a branch follows (`branch.<b>.remote` + `branch.<b>.merge`).
pub fn upstream_of(repo: &Repo, branch: &str) -> Option<String> {
    let config = repo.config();
    let remote = config.string(&format!("branch.{branch}.remote"))?;
    let merge = config.string(&format!("branch.{branch}.merge"))?;
    let name = merge.strip_prefix("refs/heads/")?;
    (remote != ".").then(|| format!("refs/remotes/{remote}/{name}"))
}

/// The refs a session's branch counts as merged into (any one will do): its target branch,
/// that branch's upstream, and the ref it was started from (`origin/main` for `@fresh`).
pub fn merge_destinations(repo: &Repo, s: &Session) -> Vec<String> {
    let mut refs = Vec::new();
    let mut add = |r: String| {
        if !refs.contains(&r) && r != format!("refs/heads/{}", s.branch) {
            refs.push(r);
        }
    };
    if let Some(m) = &s.merged {
        add(format!("refs/heads/{}", m.into));
    }
    if let Some(t) = default_target(repo, s) {
        if let Some(u) = upstream_of(repo, &t) {
            add(u);
        }
        add(format!("refs/heads/{t}"));
    }
    if let Some(b) = &s.base.ref_name
        && !b.starts_with("refs/tags/")
    {
        add(b.clone());
    }
    refs.retain(|r| {
        repo.gix()
            .try_find_reference(r.as_str())
            .ok()
            .flatten()
            .is_some()
    });
    refs
}

/// Why a branch counts as merged into a target, by content (invariant 1: squash merges
/// count; ancestry alone is not the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MergedBy {
    /// The branch tip is an ancestor of the target (a merge, a fast-forward, or no commits).
    Ancestor,
    /// The branch tip has the very tree the target has.
    SameTree,
    /// Merging the branch into the target would change nothing (squash-merged, or its changes
    /// arrived some other way).
    NothingToAdd,
    /// Every commit of the branch, or all of them squashed, has a patch-equivalent commit on
    /// the target (rebased or squash-merged, with the target changed since).
    PatchEquivalent,
}

impl MergedBy {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Ancestor => "merged",
            Self::SameTree => "same content",
            Self::NothingToAdd | Self::PatchEquivalent => "squash-merged",
        }
    }
}

/// Commits of the target examined for patch-equivalence (as worktrunk does, a cap keeps a
/// long-diverged branch from costing a full history walk).
const PATCH_ID_LIMIT: usize = 500;

/// Is `tip` merged into `target` by content? The rules, in order: ancestry, same tree,
/// "merging would add nothing", patch-equivalence (each commit of the branch, or the squashed
/// diff, has an identical patch among the target's commits since the merge-base).
///
/// Patches are compared byte for byte (`git patch-id --verbatim`): git's default patch ids,
/// and so `git cherry`, ignore whitespace, and a commit that only re-indents (Python, YAML) is
/// work that would be lost if it counted as merged.
pub fn merged_by(
    repo: &Repo,
    mem: &Memory,
    tip: ObjectId,
    target: ObjectId,
) -> Result<Option<MergedBy>> {
    if mem.is_ancestor(tip, target)? {
        return Ok(Some(MergedBy::Ancestor));
    }
    let target_tree = mem.tree_of(target)?;
    if mem.tree_of(tip)? == target_tree {
        return Ok(Some(MergedBy::SameTree));
    }
    let merge = mem.merge(target, tip)?;
    if merge.is_clean() && merge.tree == target_tree {
        return Ok(Some(MergedBy::NothingToAdd));
    }
    if patch_equivalent(repo, mem, tip, target)? {
        return Ok(Some(MergedBy::PatchEquivalent));
    }
    Ok(None)
}

/// Options every patch we hash is produced with: whatever the user's diff settings, the same
/// bytes for the same change (full blob ids, so two binary changes never look alike).
const PATCH_OPTS: [&str; 5] = [
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-renames",
    "--full-index",
];

fn patch_equivalent(repo: &Repo, mem: &Memory, tip: ObjectId, target: ObjectId) -> Result<bool> {
    let Some(base) = mem.merge_base(tip, target)? else {
        return Ok(false);
    };
    let (tip, target, base) = (tip.to_string(), target.to_string(), base.to_string());
    let theirs: std::collections::HashSet<String> = patch_id(
        repo,
        &commit_patches(repo, &format!("{base}..{target}"), Some(PATCH_ID_LIMIT))?,
    )?
    .into_iter()
    .collect();
    if theirs.is_empty() {
        return Ok(false);
    }
    // Each commit rebased onto the target (what `git cherry` finds, but exact). A merge
    // commit can carry work of its own (a conflict resolution): then only the squashed
    // comparison below decides.
    let mine = format!("{base}..{tip}");
    let merges = repo
        .git()
        .args(["rev-list", "--merges", "--count", &mine])
        .run()?;
    if merges.trim() == "0" {
        // Every one of ours: a commit left out would be one never checked.
        let ours = patch_id(repo, &commit_patches(repo, &mine, None)?)?;
        if !ours.is_empty() && ours.iter().all(|id| theirs.contains(id)) {
            return Ok(true);
        }
    }
    // All of them squashed into one commit of the target.
    let squashed = repo
        .git()
        .args(["diff-tree", "-p"])
        .args(PATCH_OPTS)
        .args([&base, &tip])
        .output()?;
    let Some(wanted) = patch_id(repo, &squashed.stdout)?.into_iter().next() else {
        return Ok(false);
    };
    Ok(theirs.contains(&wanted))
}

/// The patches of the (non-merge) commits of `range`, newest first, at most `limit` of them.
fn commit_patches(repo: &Repo, range: &str, limit: Option<usize>) -> Result<Vec<u8>> {
    let mut git = repo
        .git()
        .args(["log", "-p", "--no-merges", "--format=commit %H"])
        .args(PATCH_OPTS);
    if let Some(n) = limit {
        git = git.arg(format!("--max-count={n}"));
    }
    Ok(git.arg(range).output()?.stdout)
}

/// `git patch-id --verbatim` of a stream of patches (whitespace kept: see [`merged_by`]): the
/// ids, in order. A commit with no changes has none.
fn patch_id(repo: &Repo, patches: &[u8]) -> Result<Vec<String>> {
    if patches.is_empty() {
        return Ok(Vec::new());
    }
    let out = repo
        .git()
        .args(["patch-id", "--verbatim"])
        .run_with_input(patches)?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_paths_of_every_kind_of_entry() {
        let status = "1 .M N... 100644 100644 100644 aaa bbb src/a.rs\0\
                      2 R. N... 100644 100644 100644 aaa bbb R100 new name.rs\0old name.rs\0\
                      ? notes/new file.txt\0\
                      ? nested/\0\
                      u UU N... 100644 100644 100644 100644 aaa bbb ccc both.rs\0";
        assert_eq!(
            status_paths(status),
            [
                "both.rs",
                "new name.rs",
                "notes/new file.txt",
                "old name.rs",
                "src/a.rs"
            ]
        );
    }
}
