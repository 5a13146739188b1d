#!/usr/bin/env bash
# tests/real-agents/install.sh [DIR]
#
# Installs the five agent CLIs the real-agent tier runs, at the versions it was verified
# with, into DIR (default: $GIT_AGENT_CLI_CACHE, else ~/.cache/git-agent/clis), never
# globally, and prints the PATH entries to use, one per line, on stdout (progress goes to
# stderr). An installed CLI of the pinned version is reused, so a second run costs seconds.
# Exits 1 if any install failed (the others are still printed); the caller decides.
#   claude    npm @anthropic-ai/claude-code 2.1.197  (native binary put in place by postinstall)
#   codex     npm @openai/codex 0.169.0
#   gemini    npm @google/gemini-cli 0.61.0          (node >= 20)
#   opencode  npm opencode-ai 1.18.33                (native binary put in place by postinstall)
#   aider     PyPI aider-chat 0.86.2                 (in a venv)
set -u
dir=${1:-${GIT_AGENT_CLI_CACHE:-${HOME:-/root}/.cache/git-agent/clis}}
mkdir -p "$dir"
say() { printf '%s\n' "$*" >&2; }

# `--version` of some CLIs writes into HOME: keep that out of the real one.
vhome=$dir/.version-home
mkdir -p "$vhome/.codex"
version() { HOME=$vhome CODEX_HOME=$vhome/.codex timeout 60 "$1" --version 2>/dev/null | head -n 1; }

failed=0
npm_cli() { # name package version [package whose install script must run]
    local name=$1 package=$2 want=$3 scripts=${4:-}
    local prefix=$dir/$name-$want
    local bin=$prefix/bin/$name
    if [ ! -x "$bin" ]; then
        if ! command -v npm >/dev/null 2>&1; then
            say "$name: npm is not installed"; failed=1; return
        fi
        say "$name: npm install $package@$want"
        local extra=()
        [ -n "$scripts" ] && extra=(--allow-scripts="$scripts")
        if ! npm install -g --no-fund --no-audit --prefix "$prefix" "${extra[@]}" "$package@$want" \
                >"$dir/install-$name.log" 2>&1; then
            say "$name: FAILED (see $dir/install-$name.log)"; failed=1; rm -rf "$prefix"; return
        fi
    fi
    if [ -z "$(version "$bin")" ]; then
        say "$name: installed but '$name --version' fails"; failed=1; return
    fi
    say "$name: $(version "$bin")"
    printf '%s\n' "$prefix/bin"
}

npm_cli claude @anthropic-ai/claude-code 2.1.197 @anthropic-ai/claude-code
npm_cli codex @openai/codex 0.169.0
npm_cli gemini @google/gemini-cli 0.61.0
npm_cli opencode opencode-ai 1.18.33 opencode-ai

venv=$dir/aider-0.86.2
if [ ! -x "$venv/bin/aider" ]; then
    say "aider: pip install aider-chat==0.86.2"
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q aider-chat==0.86.2; } \
            >"$dir/install-aider.log" 2>&1; then
        say "aider: FAILED (see $dir/install-aider.log)"; failed=1; rm -rf "$venv"
    fi
fi
if [ -x "$venv/bin/aider" ] && [ -n "$(version "$venv/bin/aider")" ]; then
    say "aider: $(version "$venv/bin/aider")"
    # Only aider itself: the venv's python must not shadow the system's on PATH.
    mkdir -p "$dir/aider-bin"
    ln -sf "$venv/bin/aider" "$dir/aider-bin/aider"
    printf '%s\n' "$dir/aider-bin"
fi
exit $failed
