//! `git agent trust`: show the commands a repository defines in `.git-agent.toml` and approve
//! them; and the gate every command from that file passes before it runs.

use std::path::PathBuf;

use anyhow::Result;

use super::Ctx;
use crate::error::{Failure, code};
use crate::git::repo::Repo;
use crate::project::{self, Approvals, ProjectCommand, ProjectFile};
use crate::ui;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Commands in .git-agent.toml (setup, run, verify, agent profiles) come with the repository, so
git-agent runs each one only after you approved its exact text, as that kind of command, for
this repository: approving verify = \"make\" does not approve setup = \"make\". A changed
text needs approval again. Your own git config (agent.setup, …) needs no approval.

The image .devcontainer/devcontainer.json names is approved the same way: a container runner
(--runner docker) runs it when agent.image names none.")]
pub struct Args {
    /// Read .git-agent.toml from this commit [default: HEAD]
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Approve without asking (needed without a terminal)
    #[arg(short, long)]
    pub yes: bool,
    /// List what is approved for this repository
    #[arg(long, conflicts_with_all = ["yes", "revoke"])]
    pub list: bool,
    /// Forget every approval for this repository
    #[arg(long, conflicts_with = "yes")]
    pub revoke: bool,
}

/// The key approvals are stored under: the main worktree (or the git directory of a bare
/// repository).
pub fn repo_key(repo: &Repo) -> PathBuf {
    repo.main_workdir().unwrap_or(repo.common_dir()).to_owned()
}

/// Every command a project file defines.
pub fn project_commands(project: &ProjectFile) -> Vec<ProjectCommand> {
    let mut commands = Vec::new();
    for (what, text) in [
        ("setup", &project.setup),
        ("run", &project.run),
        ("verify", &project.verify),
    ] {
        if let Some(t) = text {
            commands.push(ProjectCommand::new(what, t.clone()));
        }
    }
    for name in project.profile.keys() {
        if let Some(text) = project.profile_text(name) {
            commands.push(ProjectCommand::new(format!("profile {name}"), text));
        }
    }
    commands
}

fn show(ctx: &mut Ctx<'_>, command: &ProjectCommand) -> Result<()> {
    writeln!(ctx.err, "{} ({}):", ui::bold(&command.what), command.source)?;
    for line in command.text.lines() {
        writeln!(ctx.err, "    {line}")?;
    }
    Ok(())
}

impl Ctx<'_> {
    /// Lets repository-defined commands run only if the user approved their exact text: already
    /// approved, approved now by `assume_yes` (`--trust`), or approved at a prompt. Without a
    /// terminal the error names the flag (exit 3). `skip_hint` says how to do without them.
    pub fn ensure_trusted(
        &mut self,
        repo: &Repo,
        commands: &[ProjectCommand],
        assume_yes: bool,
        skip_hint: Option<&str>,
    ) -> Result<()> {
        if commands.is_empty() {
            return Ok(());
        }
        let key = repo_key(repo);
        let mut approvals = Approvals::load()?;
        let pending: Vec<ProjectCommand> = commands
            .iter()
            .filter(|c| !approvals.is_approved(&key, c))
            .cloned()
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if assume_yes {
            approvals.approve(&key, &pending)?;
            for c in &pending {
                writeln!(
                    self.err,
                    "Approved the {} command of {} for this repository.",
                    c.what, c.source
                )?;
            }
            return Ok(());
        }
        if self.can_prompt() {
            for c in &pending {
                writeln!(
                    self.err,
                    "This repository defines a command git-agent would run for you:"
                )?;
                show(self, c)?;
                let yes = self
                    .confirm(
                        "Run it, and remember this approval for this repository?",
                        false,
                    )
                    .unwrap_or(false);
                if !yes {
                    let mut f = Failure::fatal(format!(
                        "the {} command of {} was not approved",
                        c.what, c.source
                    ));
                    if let Some(h) = skip_hint {
                        f = f.hint(h.to_owned());
                    }
                    return Err(f.into());
                }
                approvals.approve(&key, std::slice::from_ref(c))?;
            }
            return Ok(());
        }
        let first = &pending[0];
        let mut f = Failure::fatal(format!(
            "{} defines a {} command you have not approved: {}",
            first.source,
            first.what,
            first.text.lines().next().unwrap_or_default()
        ))
        .code(code::NEEDS_TERMINAL)
        .hint("review and approve it with 'git agent trust', or approve it now with --trust");
        if let Some(h) = skip_hint {
            f = f.hint(h.to_owned());
        }
        Err(f.into())
    }
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let key = repo_key(&repo);
    let mut approvals = Approvals::load()?;
    if args.revoke {
        let n = approvals.revoke(&key)?;
        writeln!(ctx.out, "Forgot {n} approval(s) for {}.", key.display())?;
        return Ok(0);
    }
    if args.list {
        let approved = approvals.for_repo(&key);
        if approved.is_empty() {
            writeln!(ctx.err, "Nothing is approved for {}.", key.display())?;
        }
        for (what, text, when) in approved {
            // The kind is part of the approval: `verify` text approved is no `setup`.
            let kind = if project::is_kind(&what) {
                what
            } else {
                "unknown kind, approves nothing".to_owned()
            };
            writeln!(
                ctx.out,
                "{} (approved {}):",
                ui::bold(&kind),
                crate::time::format_timestamp(when)
            )?;
            for line in text.lines() {
                writeln!(ctx.out, "    {line}")?;
            }
        }
        return Ok(0);
    }
    let base = repo.resolve_base(args.base.as_deref())?;
    let project = ProjectFile::at_commit(repo.gix(), &base.commit)?;
    let mut commands = project.as_ref().map(project_commands).unwrap_or_default();
    // The image a container runner would take from the repository.
    commands.extend(crate::runner::container::config::devcontainer_to_trust(
        &repo.config(),
        repo.gix(),
        &base.commit,
    ));
    if project.is_none() && commands.is_empty() {
        writeln!(
            ctx.err,
            "{} at {} defines nothing to approve.",
            project::FILE,
            base.short_name()
        )?;
        return Ok(0);
    }
    if commands.is_empty() {
        writeln!(
            ctx.err,
            "{} at {} defines no commands.",
            project::FILE,
            base.short_name()
        )?;
        return Ok(0);
    }
    let pending: Vec<ProjectCommand> = commands
        .iter()
        .filter(|c| !approvals.is_approved(&key, c))
        .cloned()
        .collect();
    for c in &commands {
        let status = if pending.contains(c) {
            ui::warning("not approved")
        } else {
            "approved".to_owned()
        };
        writeln!(ctx.out, "{} ({}): {status}", ui::bold(&c.what), c.source)?;
        for line in c.text.lines() {
            writeln!(ctx.out, "    {line}")?;
        }
    }
    if pending.is_empty() {
        return Ok(0);
    }
    ctx.out.flush()?;
    let approve = if args.yes {
        true
    } else if ctx.can_prompt() {
        let prompt = format!(
            "Approve {} command(s) for {}?",
            pending.len(),
            key.display()
        );
        ctx.confirm(&prompt, false).unwrap_or(false)
    } else {
        return Err(Failure::fatal("approving needs a terminal to ask on")
            .code(code::NEEDS_TERMINAL)
            .hint("approve without asking with: git agent trust --yes")
            .into());
    };
    if !approve {
        writeln!(ctx.err, "Nothing approved.")?;
        return Ok(code::NEGATIVE);
    }
    approvals.approve(&key, &pending)?;
    writeln!(
        ctx.err,
        "Approved {} command(s); saved in {}.",
        pending.len(),
        approvals.path().display()
    )?;
    Ok(0)
}
