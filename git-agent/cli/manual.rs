//! The parts of the man pages that are not in the clap definitions: files, environment,
//! configuration, exit status, examples. `tests/it/man_pages.rs` renders them, with every
//! command and option from the clap definitions, into `man/man1/*.1` (and fails when those
//! are stale).
//!
//! Text format: paragraphs separated by blank lines; a line starting with `$ ` is an example
//! command (kept as typed); a line starting with `* ` starts a definition whose body is the
//! indented lines after it.

/// A man page's extra sections, in order: (heading, text).
pub type Sections = &'static [(&'static str, &'static str)];

const EXIT_STATUS: &str = "\
* 0
  Success. A closed standard output (git agent list | head -1) also ends quietly with 0.
* 1
  A defined negative result scripts branch on: wait saw a session that did not end done; stop
  could not stop one; a verify failed; a merge or sync was refused (conflicts, local changes
  in the way, not a fast-forward: the paths are listed); conflicts predicted one; rm refused
  to lose work; doctor found problems.
* 2
  Usage error: a bad option, a bad name, a bad duration.
* 3
  The command would have to ask a question and there is no terminal to ask on (or
  GIT_AGENT_NONINTERACTIVE is set); the message names the flag that decides (--yes, --trust…).
* 128
  Fatal error: not a repository, bad base, unknown profile, missing agent program, a running
  agent, no such session…
* 130
  Interrupted.

Errors are printed the way git prints them: fatal: and the message, then hint: lines that say
what to do next.";

const FILES: &str = "\
All state is plain files in the repository's common git directory, shared by every worktree
and never committed. Records are written atomically (a temporary file, then a rename) under
an OS file lock, so a crash never leaves a stale lock or a half-written record.

* $GIT_COMMON_DIR/agent/sessions/NAME.json
  One record per session (JSON, with a schema version).
* $GIT_COMMON_DIR/agent/sessions/NAME/log
  What the agent printed. prompt.md holds the task, prompt-N.md the prompt of run N, queue/
  the follow-ups waiting for the current run, reviews/NNN.md the review rounds.
* $GIT_COMMON_DIR/agent/events.jsonl
  Every state change of every session, one JSON object per line (git agent events).
* $GIT_COMMON_DIR/agent/archive/
  Records and files of removed sessions (git agent list --all).
* $GIT_COMMON_DIR/agent/quarantine/
  Records that could not be read, moved aside and reported, never deleted.
* $GIT_COMMON_DIR/agent/ports.json
  Ports reserved for sessions (agent.ports).
* $GIT_COMMON_DIR/agent/plans/NAME.json, plans/NAME/
  A running plan (git agent plan run): its tasks as run, their state, sessions and landed
  commits; its log of the commands it ran, the prompts it gave and its drive lock.
* $GIT_COMMON_DIR/agent/lock, worktree.lock, locks/NAME.lock
  The state lock; the lock held around git worktree add/remove/lock (git reads every
  worktree's admin folder); the lock held while a session is being removed.
* .git-agent.toml
  Team settings committed at the repository's root (setup, run, verify, ports, submodules,
  lfs, [profile.NAME]); read from the session's base commit; its commands run only once
  approved (git agent trust).
* .worktreeinclude, .worktreelink
  Ignored files of the main worktree to copy (or symlink) into new worktrees (gitignore
  syntax).
* ${XDG_CONFIG_HOME:-~/.config}/git-agent/profiles.toml
  Your agent profiles.
* ${XDG_CONFIG_HOME:-~/.config}/git-agent/approvals.json
  The project commands you approved, by repository and SHA-256 of their text.";

const ENVIRONMENT: &str = "\
The agent gets your environment minus git's repository variables (GIT_DIR, GIT_WORK_TREE,
GIT_INDEX_FILE…) and those of the git agent call itself (GIT_CONFIG_PARAMETERS,
GIT_EXEC_PATH), plus:

* GIT_AGENT_NAME, GIT_AGENT_WORKTREE, GIT_AGENT_REPO, GIT_AGENT_BRANCH
  The session, its worktree, the main worktree, its branch.
* GIT_AGENT_BASE, GIT_AGENT_BASE_REF
  The base commit, and the base ref if there is one.
* GIT_AGENT_PROMPT, GIT_AGENT_PROMPT_FILE, GIT_AGENT_TASK, GIT_AGENT_RUN
  This run's prompt, a file holding it, the original task, the run number.
* GIT_AGENT_STATUS_FILE
  A file the agent may write its state to (waiting, working, done).
* GIT_AGENT_GROUP, GIT_AGENT_VARIANT
  For variants: the group and the 1-based index.
* GIT_AGENT_PORT, GIT_AGENT_PORT_1…
  The session's reserved ports.

git agent itself reads:

* GIT_AGENT_NONINTERACTIVE=1
  Never ask: a command that would ask fails with exit 3, naming the flag that decides.
* NO_COLOR, CLICOLOR_FORCE
  No colors; colors even when not on a terminal (--color wins over both).
* COLUMNS
  The width of tables.
* GIT_EDITOR, EDITOR
  For review --edit (git's own rules: core.editor and the rest).";

const CONFIGURATION: &str = "\
Everything is git config (git config [--global] agent.KEY VALUE, or git -c agent.KEY=VALUE
agent … for one run); flags win over config. git agent config lists what is in effect and
where each value comes from.

* agent.default
  The profile used without --agent (default: the first of claude, codex, gemini, opencode,
  aider found on PATH).
* agent.reviewer
  The reviewer of review --ai without --agent (default: the first of those installed, with a
  read-only mode, other than the agent that wrote the code).
* agent.worktreeDir
  Where worktrees go; relative to the main worktree (default: ../REPO.agents).
* agent.branchPrefix
  Prefix of generated branch names (default: agent/).
* agent.timeout, agent.stopGrace
  Default --timeout; the time between SIGTERM and SIGKILL (default 10s).
* agent.autoCommit
  Commit what the agent left uncommitted when it ends (default true).
* agent.setup, agent.run, agent.verify, agent.ports
  The setup hook, the run script, the verify command, ports per session (default: from
  .git-agent.toml, once approved).
* agent.submodules, agent.lfs
  Initialise submodules in new worktrees (default: when there are any); skip: no LFS
  downloads on checkout.
* agent.remote
  The remote of --base @fresh and merge --pr (default: the upstream's, origin, or the only
  one).
* agent.allowTemp
  Allow worktrees in the system's temporary folder (default false).
* agent.mergeStrategy, agent.syncStrategy
  squash, rebase, merge or ff-only (default squash); merge or rebase (default merge).
* agent.cleanOlderThan
  What clean leaves alone: sessions that ended more recently than this.
* agent.notify, agent.notify.on, agent.notifyCommand, agent.notifyTimeout
  Notifications when a session becomes waiting, failed, rate-limited, over-budget or done,
  and when a plan becomes blocked, failed, validated or landed: off silences them; the
  states that notify (commas or spaces); a command (sh -c, git config only) run with
  GIT_AGENT_NAME, GIT_AGENT_PLAN, GIT_AGENT_STATE, GIT_AGENT_MESSAGE, GIT_AGENT_REPO in its
  environment, killed after agent.notifyTimeout (default 30s). A desktop notification is
  shown where a D-Bus session bus exists.
* agent.profile.NAME.command, .program, .arg, .resume, .prompt, .format, .leaves, .env,
.permissionMode, .bypass
  An agent profile, or changes to a built-in one (see git agent profiles).
* color.agent, color.ui, pager.agent
  Colors (always, never, auto) and git's pager for git agent, as for any git command.";

const EXAMPLES: &str = "\
A side quest while you keep working on your branch:

$ git agent new \"fix the flaky login test\"
$ git agent list
$ git agent review fix-the-flaky-login-test
$ git agent merge fix-the-flaky-login-test

Several approaches to one task, the best one kept:

$ git agent new -n 2 --agent claude,codex \"speed up the parser\"
$ git agent wait
$ git agent review --group speed-up-the-parser --verify
$ git agent merge speed-up-the-parser-2 --discard-others

A worktree per bug, merged as each lands:

$ git agent new --name bug-101 \"fix #101: crash on empty config\"
$ git agent new --name bug-102 \"fix #102: wrong exit code\"
$ git agent conflicts
$ git agent merge bug-101 bug-102
$ git agent clean

Comments back to the agent until the diff is ready:

$ git agent review bug-102 --comment src/main.rs:40 \"use the error's own exit code\"
$ git agent review bug-102 --send";

/// `git-agent(1)`.
pub const GIT_AGENT: Sections = &[
    ("EXIT STATUS", EXIT_STATUS),
    ("FILES", FILES),
    ("ENVIRONMENT", ENVIRONMENT),
    ("CONFIGURATION", CONFIGURATION),
    ("EXAMPLES", EXAMPLES),
    ("RUNNER PLUGINS", super::manual_plugins::RUNNER_PLUGINS),
    (
        "SEE ALSO",
        "git-agent-review(1), git-agent-merge(1), git-worktree(1), git-config(1). git agent \
         review, merge, conflicts and sync are run by git-agent-review and git-agent-merge.",
    ),
];

/// `git-agent-review(1)`.
pub const GIT_AGENT_REVIEW: Sections = &[
    (
        "REVIEW ROUNDS",
        "\
Comments go into the session's open round, a Markdown file
$GIT_COMMON_DIR/agent/sessions/NAME/reviews/NNN.md with a front matter (round, session,
status, created, sent) and one section per comment: ## PATH:LINE (a line of the new version),
## PATH (the whole file) or ## General, each quoting the hunk it is about. --send delivers the
round to the agent as one follow-up (resuming its conversation) and marks it sent.

In --edit, the diff opens in your editor; write a comment on lines starting with >> right
below the diff line it is about (before a file's first hunk: the whole file; above the first
file: general). Lines starting with # are ignored; saving no comment cancels.",
    ),
    (
        "RANKING",
        "\
--group and --compare list the variants best first: a passing verify beats no verify (or a
stale one, made before the branch last changed) beats a failing one; then a session that
ended done beats one still going beats one that failed or was stopped; then the cheaper run;
then the name. The size of a change is shown but not ranked.",
    ),
    (
        "EXIT STATUS",
        "\
* 0
  Reviewed.
* 1
  A verify failed.
* 2
  Usage error.
* 3
  It would have to ask (a project verify command to approve) and there is no terminal:
  --trust.
* 128
  Fatal error.",
    ),
    (
        "CONFIGURATION",
        "\
* agent.verify
  The verify command (sh -c, in the session's worktree); else verify in .git-agent.toml,
  once approved.
* color.agent, color.ui, pager.agent, core.pager, diff.*
  The diff is git's own: your pager, colors, diff settings and external diff tools.",
    ),
    (
        "EXAMPLES",
        "\
$ git agent review fix-login
$ git agent review fix-login --stat -- src/
$ git agent review --group speed --verify --jobs 2
$ git agent review fix-login --comment src/login.rs:42 \"use a constant-time compare\"
$ git agent review fix-login --edit --send",
    ),
    ("SEE ALSO", "git-agent(1), git-agent-merge(1), git-diff(1)."),
];

/// `git-agent-merge(1)`.
pub const GIT_AGENT_MERGE: Sections = &[
    (
        "THE PIPELINE",
        "\
Any step that refuses leaves everything as it was.

* 1. The agent must have ended.
  git agent stop or wait first.
* 2. What is uncommitted in its worktree is committed on its branch.
  With git, so hooks run.
* 3. The merge is predicted in memory.
  Conflicts refuse (exit 1) with the paths; they are resolved in the agent's worktree (git
  agent sync), never in yours. A target behind its upstream, when the agent's branch holds
  upstream commits the target lacks, refuses a squash or rebase.
* 4. The new tip is built where nobody works.
  Squash and merge commits in the agent's worktree with its HEAD detached at the target (put
  back afterwards; a temporary worktree if it is gone); rebase in the agent's worktree. Git
  makes every commit, so hooks run; no editor opens.
* 5. --verify runs on exactly what will land.
* 6. The target moves by fast-forward only.
  Where it is checked out, with it (git merge --ff-only there: your local changes stay, and
  if one touches a file the merge changes nothing happens); elsewhere, the ref alone, by
  compare-and-swap.
* 7. The session is marked merged and removed.
  Worktree removed, branch kept, record archived; --keep keeps it.",
    ),
    (
        "MERGE ORDER",
        "\
git agent conflicts suggests an order: at each step, among the sessions that still merge
cleanly onto what has landed so far, take the one that conflicts with the fewest of the
sessions still waiting; ties go to the larger change, then to the older session. The order
is checked by landing the sessions one onto the other in memory; a session that would
conflict waits for a sync. A merge queue (git agent merge A B C) follows it and stops at the
first conflict or failed verify.",
    ),
    (
        "EXIT STATUS",
        "\
* 0
  Merged, or nothing to do; no conflict predicted.
* 1
  Refused: conflicts (listed), a failed verify, not a fast-forward, local changes in the way;
  conflicts predicted one.
* 2
  Usage error.
* 128
  Fatal error: the agent is running, no such session, no target branch…",
    ),
    (
        "CONFIGURATION",
        "\
* agent.mergeStrategy
  squash (default), rebase, merge or ff-only.
* agent.syncStrategy
  merge (default) or rebase.
* agent.remote
  Where merge --pr pushes.
* agent.verify
  The command of --verify.",
    ),
    (
        "EXAMPLES",
        "\
$ git agent merge fix-login
$ git agent merge fix-login --rebase --keep
$ git agent merge fix-login --dry-run
$ git agent merge speed-2 --discard-others
$ git agent merge a b c
$ git agent merge fix-login --apply
$ git agent merge fix-login --pr
$ git agent conflicts --json
$ git agent sync fix-login --ask-agent",
    ),
    (
        "SEE ALSO",
        "git-agent(1), git-agent-review(1), git-merge(1), git-rebase(1).",
    ),
];
