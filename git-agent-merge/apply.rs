//! `git agent merge NAME --apply`: the agent's changes, as uncommitted changes in the
//! checkout you run it from ("Apply to local"); nothing is committed for you.
//!
//! The changes are the session's whole result against the merge-base of its branch and your
//! HEAD. Refused, with the files named, when one of them has local changes in your checkout
//! (applying would mix the two) or is an ignored file there (it would be overwritten, and
//! nothing could bring it back); `git apply` then applies everything or nothing.

use anyhow::Result;
use git_agent::commands::Ctx;
use git_agent::error::{Failure, code};
use git_agent::git::merging::Memory;
use git_agent::git::repo::Repo;
use git_agent::state::Event;

use crate::land;
use crate::target::{self, git};

pub fn run(ctx: &mut Ctx<'_>, repo: &Repo, name: &str) -> Result<u8> {
    let state = repo.state();
    let s = state.load(name)?;
    land::ensure_idle(repo, &s, "apply it")?;
    let Some(here) = repo.workdir().map(std::path::Path::to_owned) else {
        return Err(Failure::fatal("--apply needs a checkout to apply to")
            .hint("run it from the worktree the changes should go to")
            .into());
    };
    let same = |a: &std::path::Path, b: &std::path::Path| {
        std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok()
    };
    if same(&here, &s.worktree) {
        return Err(Failure::usage(format!(
            "this is the worktree of '{name}' itself; run --apply from the checkout the changes go to"
        ))
        .into());
    }
    land::commit_leftovers(ctx, &s, "before --apply")?;
    let mem = Memory::new(repo);
    let Some(tip) = repo.branch_tip(&s.branch)? else {
        return Err(Failure::fatal(format!("the branch {} is gone", s.branch)).into());
    };
    let head = git_agent::git::WorktreeDir::new(&here).head_id()?;
    let base = mem.merge_base(head, tip)?.ok_or_else(|| {
        Failure::fatal(format!("{} and your HEAD have no common history", s.branch))
    })?;
    if base == tip {
        writeln!(ctx.err, "{name} has no changes that your checkout lacks")?;
        return Ok(code::SUCCESS);
    }
    let files = mem.changed_paths(mem.tree_of(base)?, mem.tree_of(tip)?)?;
    let local = target::local_changes(&here)?;
    let overlap: Vec<&String> = files.iter().filter(|f| local.contains(f)).collect();
    if !overlap.is_empty() {
        writeln!(
            ctx.err,
            "error: your checkout has local changes to files {name} changes:"
        )?;
        for f in &overlap {
            writeln!(ctx.err, "    {f}")?;
        }
        ctx.hint("commit them (or move them aside), then apply again; nothing was changed")?;
        return Ok(code::NEGATIVE);
    }
    let ignored = target::ignored_in_the_way(&here, &files)?;
    if !ignored.is_empty() {
        writeln!(
            ctx.err,
            "error: applying {name} would overwrite ignored files in your checkout:"
        )?;
        for f in &ignored {
            writeln!(ctx.err, "    {f}")?;
        }
        ctx.hint("ignored files are not in git: nothing could bring them back; move them aside, then apply again (nothing was changed)")?;
        return Ok(code::NEGATIVE);
    }
    let patch = repo
        .git()
        .args([
            "diff",
            "--binary",
            "--full-index",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            &base.to_string(),
            &tip.to_string(),
        ])
        .output()?
        .stdout;
    let applied = git(&here)
        .args(["apply", "--binary", "--whitespace=nowarn"])
        .run_with_input(&patch);
    if let Err(e) = applied {
        writeln!(
            ctx.err,
            "error: the changes of {name} do not apply to your checkout: {e:#}"
        )?;
        ctx.hint(&format!(
            "your files differ from what the agent started from; merge instead: git agent merge {name}"
        ))?;
        ctx.hint("nothing was changed")?;
        return Ok(code::NEGATIVE);
    }
    state.append_event(&Event {
        detail: Some(here.display().to_string()),
        ..Event::new(name, "applied")
    })?;
    writeln!(
        ctx.out,
        "Applied the changes of {name} to {} ({} file{}, uncommitted)",
        git_agent::ui::short_path(&here, &ctx.cwd),
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    )?;
    ctx.hint(&format!(
        "review them with 'git status' and 'git diff'; when you have what you need: git agent rm {name}"
    ))?;
    Ok(code::SUCCESS)
}
