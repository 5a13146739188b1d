//! `git agent merge NAME --pr`: push the session's branch and open a pull request with `gh`
//! (title and body from the task and what the agent reported), recording its address. Without
//! `gh`, the branch is pushed and the page to open one is printed (for GitHub and GitLab
//! remotes).

use anyhow::Result;
use git_agent::commands::Ctx;
use git_agent::error::{Failure, code};
use git_agent::git::repo::Repo;
use git_agent::process::Cmd;
use git_agent::session::{PullRequest, Session};
use git_agent::state::Event;

use crate::land;
use crate::target;

/// The web address of a hosted repository from its remote URL (`git@host:o/r.git`,
/// `https://host/o/r`, `ssh://git@host/o/r.git`).
fn web_url(url: &str) -> Option<(String, String)> {
    let url = url.trim().trim_end_matches('/').trim_end_matches(".git");
    let (host, path) = if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        rest.split_once('/')?
    } else if let Some(rest) = url.strip_prefix("ssh://") {
        let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
        rest.split_once('/')?
    } else if let Some((user_host, path)) = url.split_once(':') {
        if user_host.contains('/') {
            return None;
        }
        (
            user_host.split_once('@').map_or(user_host, |(_, h)| h),
            path,
        )
    } else {
        return None;
    };
    let host = host.split_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next()?;
    if path.is_empty() {
        return None;
    }
    Some((host.to_owned(), format!("https://{host}/{path}")))
}

/// Where to open a pull request by hand, for the hosts whose address scheme we know.
fn compare_url(remote_url: &str, base: &str, branch: &str) -> Option<String> {
    let (host, web) = web_url(remote_url)?;
    if host == "github.com" || host.starts_with("github.") {
        Some(format!("{web}/compare/{base}...{branch}?expand=1"))
    } else if host.contains("gitlab") {
        Some(format!(
            "{web}/-/merge_requests/new?merge_request[source_branch]={branch}&merge_request[target_branch]={base}"
        ))
    } else {
        None
    }
}

fn body(s: &Session) -> String {
    let mut body = format!("## Task\n\n{}\n", s.prompt.trim());
    if let Some(summary) = s.summary() {
        body.push_str(&format!("\n## What the agent reported\n\n{summary}\n"));
    }
    body.push_str(&format!(
        "\n---\nMade with `git agent` (session `{}`, agent `{}`).\n",
        s.name,
        s.short_agent()
    ));
    body
}

pub fn run(ctx: &mut Ctx<'_>, repo: &Repo, name: &str, into: Option<&str>) -> Result<u8> {
    let state = repo.state();
    let s = state.load(name)?;
    land::ensure_idle(repo, &s, "open a pull request")?;
    let target = target::resolve(repo, &s, into)?;
    land::commit_leftovers(ctx, &s, "before a pull request")?;
    let remote = repo.pick_remote(&repo.config(), Some(&target.branch), "--pr")?;
    // The base as the remote knows it: the target's upstream branch name, else its own name.
    let base = repo
        .config()
        .string(&format!("branch.{}.merge", target.branch))
        .and_then(|m| m.strip_prefix("refs/heads/").map(str::to_owned))
        .unwrap_or_else(|| target.branch.clone());
    writeln!(ctx.err, "Pushing {} to {remote}…", s.branch)?;
    let refspec = format!("refs/heads/{0}:refs/heads/{0}", s.branch);
    repo.git()
        .args(["push", "--quiet", "--set-upstream", &remote, &refspec])
        .env("GIT_TERMINAL_PROMPT", "0")
        .run()
        .map_err(|e| {
            Failure::fatal(format!("could not push {} to '{remote}': {e:#}", s.branch))
                .hint("nothing was opened")
        })?;
    let mut record = PullRequest {
        remote: remote.clone(),
        branch: s.branch.clone(),
        base: base.clone(),
        url: None,
        opened: false,
        at: git_agent::time::now(),
    };
    let mut result = code::SUCCESS;
    match which::which("gh") {
        Ok(gh) => {
            let dir = repo.main_workdir().unwrap_or(repo.common_dir()).to_owned();
            let out = Cmd::new(gh)
                .current_dir(&dir)
                .args([
                    "pr",
                    "create",
                    "--head",
                    &s.branch,
                    "--base",
                    &base,
                    "--title",
                    &land::subject(&s),
                    "--body-file",
                    "-",
                ])
                .env("GH_PROMPT_DISABLED", "1")
                .output_with_input(body(&s).as_bytes())?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            let url = stdout
                .lines()
                .rev()
                .find(|l| l.trim().starts_with("http"))
                .map(|l| l.trim().to_owned());
            if out.status.success() {
                record.opened = true;
                record.url = url;
                writeln!(
                    ctx.out,
                    "Opened a pull request for {name}: {}",
                    record.url.as_deref().unwrap_or("(gh printed no address)")
                )?;
            } else {
                let stderr = String::from_utf8_lossy(&out.stderr);
                writeln!(
                    ctx.err,
                    "error: gh could not open the pull request: {}",
                    stderr.trim()
                )?;
                ctx.hint(&format!(
                    "the branch is pushed to {remote}; open it by hand, or try: gh pr create --head {}",
                    s.branch
                ))?;
                result = code::FATAL;
            }
        }
        Err(_) => {
            let url = repo
                .git()
                .args(["remote", "get-url", &remote])
                .run()
                .ok()
                .and_then(|u| compare_url(&u, &base, &s.branch));
            record.url.clone_from(&url);
            match url {
                Some(url) => writeln!(
                    ctx.out,
                    "Pushed {} to {remote}. Open a pull request: {url}",
                    s.branch
                )?,
                None => writeln!(
                    ctx.out,
                    "Pushed {} to {remote}; open a pull request for it there",
                    s.branch
                )?,
            }
            ctx.hint(
                "install gh (https://cli.github.com) to have the pull request opened for you",
            )?;
        }
    }
    let detail = record.url.clone().unwrap_or_else(|| remote.clone());
    state.update(name, |r| {
        r.pull_request = Some(record.clone());
        Ok(())
    })?;
    state.append_event(&Event {
        detail: Some(detail),
        ..Event::new(name, "pull-request")
    })?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_urls_for_known_hosts() {
        for remote in [
            "git@github.com:acme/widgets.git",
            "https://github.com/acme/widgets",
            "https://github.com/acme/widgets.git",
            "ssh://git@github.com/acme/widgets.git",
        ] {
            assert_eq!(
                compare_url(remote, "main", "agent/fix").as_deref(),
                Some("https://github.com/acme/widgets/compare/main...agent/fix?expand=1"),
                "{remote}"
            );
        }
        assert_eq!(
            compare_url("git@gitlab.com:acme/widgets.git", "main", "agent/fix").as_deref(),
            Some(
                "https://gitlab.com/acme/widgets/-/merge_requests/new?merge_request[source_branch]=agent/fix&merge_request[target_branch]=main"
            )
        );
        assert_eq!(compare_url("/srv/git/widgets.git", "main", "x"), None);
        assert_eq!(compare_url("https://example.org/acme/w", "main", "x"), None);
    }
}
