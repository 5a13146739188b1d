//! `git agent doctor [--fix] [--reap]`: find what crashes, moves and other tools left
//! inconsistent, explain it, and (with `--fix`) put it right without losing anything.
//!
//! The checks and fixes are [`crate::ops::doctor`] (what it looks at is listed there); this
//! command parses the flags and renders the findings, as text or JSON. Exit status 1 while a
//! problem is left open.

use anyhow::Result;
use serde::Serialize;

use super::{Ctx, Format, OutputArgs};
pub use crate::ops::doctor::Finding;
use crate::ops::doctor::{self, Options};

#[derive(Debug, clap::Args)]
#[command(mut_args(super::reword("json", |a| a.help("Print the findings as JSON"))))]
pub struct Args {
    /// Fix what can be fixed without losing anything
    #[arg(long)]
    pub fix: bool,
    /// Stop processes git-agent started that outlived their session
    #[arg(long)]
    pub reap: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `doctor --json`: what was found, and how many problems remain open.
#[derive(Serialize)]
struct Doc<'a> {
    findings: &'a [doctor::Finding],
    problems: usize,
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let findings = doctor::check(
        &repo,
        &Options {
            fix: args.fix,
            reap: args.reap,
        },
    )?;
    let open = findings.iter().filter(|f| !f.info && !f.fixed).count();
    if args.output.format() == Format::Json {
        ctx.write_doc(&Doc {
            findings: &findings,
            problems: open,
        })?;
    } else {
        for f in &findings {
            let mark = if f.info {
                "·"
            } else if f.fixed {
                "✓"
            } else {
                "✗"
            };
            writeln!(ctx.out, "{mark} {}", f.what)?;
            match (&f.fix, f.fixed) {
                (Some(fix), true) => writeln!(ctx.out, "    fixed: {fix}")?,
                (Some(fix), false) => writeln!(ctx.out, "    --fix: {fix}")?,
                (None, _) => {}
            }
            if let Some(why) = &f.failed {
                writeln!(ctx.out, "    could not fix it: {why}")?;
            }
        }
        let fixable = findings
            .iter()
            .filter(|f| !f.info && !f.fixed && f.fix.is_some() && f.failed.is_none())
            .count();
        if open == 0 {
            writeln!(ctx.out, "No problems found.")?;
        } else if fixable > 0 {
            let flag = if findings
                .iter()
                .any(|f| f.kind == "stray-process" && !f.fixed)
            {
                "--fix (--reap for processes)"
            } else {
                "--fix"
            };
            writeln!(
                ctx.out,
                "{open} problem(s); 'git agent doctor {flag}' takes care of {fixable}."
            )?;
        } else {
            writeln!(ctx.out, "{open} problem(s).")?;
        }
    }
    Ok(if open == 0 { 0 } else { 1 })
}
