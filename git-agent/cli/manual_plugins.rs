//! The RUNNER PLUGINS section of git-agent(1): the plugin protocol, for plugin authors. It is
//! the protocol's documentation (`crate::runner::plugin::protocol` holds its types); a change
//! to one is a change to the other.

/// The section's text, in `manual`'s format.
pub const RUNNER_PLUGINS: &str = "\
A runner plugin runs agents where git-agent cannot: a Kubernetes Job, a Nomad task, a hosted
sandbox. Any program git-agent-runner-NAME on PATH is runner NAME (git agent new --runner
NAME, or agent.runner = NAME); new records the path it found. Whatever the plugin does, the
result is commits on the session's branch here: the plugin gets the branch as a git bundle and
hands it back as one, which is checked (git bundle verify, fsck) and fast-forwarded into the
branch and its worktree. Review, merge and clean work as for any session.

The agent of a plugin is NOT in git-agent's write sandbox: the plugin's own room (a
container, another machine) is the agent's box. A plugin that runs agents on this machine must
confine them itself.

The supervisor starts the plugin in a process group of its own, in the folder
$GIT_COMMON_DIR/agent/sessions/NAME/plugin/, with the supervisor's environment (minus git's
repository variables). The plugin is the run's local process: git agent stop, list and
doctor judge the run by it. What it prints on stderr goes to the session's log, its name in
front. Its stdin and stdout carry the protocol: one JSON object per line, each with a type.
Unknown fields are ignored on both sides, and unknown message types by git-agent, so a later
version may add either; anything an older peer would misread is a new version.

Host to plugin, in this order:

* {\"type\":\"hello\",\"version\":1}
  The version git-agent speaks. The plugin answers with its own hello; a version the host
  does not speak fails the run.
* {\"type\":\"start\", ...}
  The run: session (its name), branch (agent/NAME), base (the commit the session started
  from), tip (the branch's commit as sent), bundle (a file here holding refs/heads/BRANCH at
  tip), argv (the agent's command line; argv[0] as resolved here), env (an object: the
  agent's whole environment as far as git-agent is concerned: the session's GIT_AGENT_*
  variables, the profile's own, and the host variables named by agent.runner.env, never the
  host's whole environment), stdin (a file to feed to the agent's stdin, or null), workdir
  (the worktree here: a name to go by, not a place to work in), limits (timeout_secs, cpus,
  memory: null when not set; git-agent enforces the timeout itself too), result (where to
  write the result bundle).
* {\"type\":\"signal\",\"signal\":\"TERM\"} or \"KILL\"
  Stop the agent: TERM lets it end (git agent stop, the timeout, a budget), KILL ends it now.
  After KILL the plugin has 10 seconds to report the exit, then its process group is killed.
* {\"type\":\"collect\"}
  Sent once the agent exited: write the result bundle. 10 minutes at most.

Plugin to host:

* {\"type\":\"hello\",\"version\":1}
  First.
* {\"type\":\"started\",\"handle\":\"...\"}
  The agent runs (or is accepted to run); handle is the plugin's name for the run (a Job's
  name), recorded in the session (git agent show). Within 2 minutes of start.
* {\"type\":\"output\",\"stream\":\"stdout\",\"line\":\"...\"}
  A line the agent printed, without its newline; stream is stdout or stderr. It is logged and
  read as the agent profile's output (cost, session id, errors), as for a local agent.
* {\"type\":\"exited\",\"code\":0,\"signal\":null}
  The agent ended: its exit code, or the number of the signal that killed it. It comes
  after the agent's last output line. Before saying so, the plugin commits what the agent left uncommitted onto the branch (git add -A, a
  commit of its own), as git-agent does for local agents: nothing the agent made is lost.
* {\"type\":\"result\",\"bundle\":\"PATH\"}
  The answer to collect: a bundle, normally at the result path of start (a relative PATH is
  taken from the plugin's folder), holding refs/heads/BRANCH at a commit that descends from
  tip.
* {\"type\":\"error\",\"message\":\"...\"}
  The run cannot go on, or collect failed. The run then fails with the message; a bundle
  the plugin wrote at the result path anyway is kept under refs/agent-incoming/NAME (never
  brought to the branch), and the run's reason says so.

A run: hello and start; hello, started, output lines, exited; collect; result (or error).
Then git-agent closes the plugin's stdin, and the plugin exits. The result is fetched into
refs/agent-incoming/NAME, checked, and the branch and worktree fast-forwarded to it. If the
branch moved here meanwhile (the user committed on it), or the worktree is in the way, the
result stays under refs/agent-incoming/NAME and the run fails saying so; a bundle git cannot
use fails the run and leaves the branch as it was.

Ending. The plugin's stdin ending is the end of the run: if the agent still runs then (the
supervisor died), the plugin stops it, commits its leftovers, writes the result bundle to the
result path and exits; a SIGTERM to the plugin means the same. git agent stop on a session
whose supervisor was lost gives the plugin the stop grace period for that, stops its process
group, and keeps a result bundle it finds under refs/agent-incoming/NAME. A plugin whose
stdout ends without an exited message fails the run; one that lingers 10 seconds after its
stdout ended is killed.";
