#!/usr/bin/env python3
# Vendored from the team's agent rig (shared/agent-rig/fake_llm.py) so that the opt-in
# real-agent tests (tests/it/real_agents.rs) need nothing outside this repository.
# Keep in step with the rig when a CLI's wire format changes.
"""fake_llm.py - a scripted, offline stand-in for LLM APIs (stdlib only).

Serves, on 127.0.0.1 only:
  POST /v1/messages                 Anthropic Messages API (SSE or JSON)   -> Claude Code
  POST /v1/messages/count_tokens    token estimate
  POST /v1/chat/completions         OpenAI Chat Completions (SSE or JSON)  -> Aider, OpenCode
  POST /v1/responses                OpenAI Responses API (SSE or JSON)     -> Codex CLI
  POST /v1beta/models/M:streamGenerateContent|generateContent|countTokens
                                    Gemini API (SSE or JSON)               -> Gemini CLI
  GET  /v1/models, /models          a one-model list
  anything else                     200 {} (logged as "unknown")
(paths are also accepted without the /v1 prefix)

The agent's behaviour is driven by a JSON script.  Either a list of turns
(used for every prompt) or {"conversations": [{"match": "substring of the user
prompt", "turns": [...]}, ...], "commit_message": "...", "default_text": "..."}
(the first conversation whose match occurs in the prompt is played; "" matches
anything; when the turns run out the server answers default_text, "Done.").

A turn is one model response.  Forms (all may carry "delay": seconds and
"text": "preamble shown before a tool call"):
  {"write": "rel/path", "content": "..."}    create/overwrite a file
  {"shell": "command line"}                  run a shell command
  {"read": "rel/path"}                       read a file (Claude needs this
                                             before overwriting an existing file)
  {"text": "final answer"}                   plain answer; ends the agent turn
  {"tool": "Name", "input": {...}}           a raw, CLI-specific tool call
  {"error": {"status": 400, "message": "..."}}  answer with an HTTP error, always
  {"write": ..., "error": {"status": 500, "times": 2}}  fail the first 2 attempts of
                                             this turn, then play the rest of it
  {"error": {"status": 429, "retry_after": 30}}  a rate limit in the provider's own
                                             error body (rate_limit_error, rate_limit_exceeded,
                                             RESOURCE_EXHAUSTED with a RetryInfo) and a
                                             retry-after header; "headers" adds any others,
                                             "fields" more members of the error object

Which turn is played is derived from the request itself, not from a counter:
the number of model responses already present in the conversation after the
last genuine user prompt.  Retries are therefore idempotent, resumed sessions
start again at turn 0 of the script for the new prompt, and one server can
serve many agents at once.  Requests that are not the agent's main loop
(titles, commit messages, summaries, quota probes) get a short harmless text
answer and do not consume turns.

Every request and the chosen reply are appended as JSON lines to --log.
The process exits by itself after --timeout seconds.
"""

import argparse
import json
import os
import re
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
SCRIPT = None
GEMINI_PATH = re.compile(r"^/(?:v1beta|v1alpha|v1)?/?models/([^:/]+):(\w+)$")
LOG_LOCK = threading.Lock()
LOG_FH = None
SEQ = [0]
ERROR_COUNTS = {}
# The providers' own wording of a 429, used when an error turn with status 429 gives no
# message (git-agent's addition to the rig: rate-limit fixtures, tests/fixtures/rate-limits).
RATE_LIMIT_MESSAGES = {
    "anthropic": "This request would exceed your organization's rate limit of 50 requests per "
                 "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    "openai": "Rate limit reached for requests per min (RPM): Limit 500, Used 500, Requested 1. "
              "Please try again in 30s. Visit https://platform.openai.com/account/rate-limits "
              "to learn more.",
    "gemini": "Resource has been exhausted (e.g. check quota).",
}


# --------------------------------------------------------------------------
# logging

def log(rec):
    if LOG_FH is None:
        return
    rec = dict(rec)
    rec.setdefault("ts", round(time.time(), 3))
    line = json.dumps(rec, ensure_ascii=False, default=str)
    with LOG_LOCK:
        LOG_FH.write(line + "\n")
        LOG_FH.flush()


def redact_headers(headers):
    out = {}
    for k, v in headers.items():
        if k.lower() in ("authorization", "x-api-key", "api-key", "x-goog-api-key"):
            v = (v[:12] + "...") if v else v
        out[k] = v
    return out


# --------------------------------------------------------------------------
# script handling

def load_script(path):
    with open(path, "r", encoding="utf-8") as fh:
        data = json.load(fh)
    if isinstance(data, list):
        data = {"conversations": [{"match": "", "turns": data}]}
    if "turns" in data and "conversations" not in data:
        data["conversations"] = [{"match": "", "turns": data["turns"]}]
    data.setdefault("conversations", [])
    data.setdefault("commit_message", "Apply scripted change")
    data.setdefault("default_text", "Done.")
    return data


def pick_turns(prompt_text):
    """First conversation whose 'match' is a substring of the prompt."""
    for conv in SCRIPT["conversations"]:
        m = conv.get("match", "")
        if m == "" or (prompt_text and m in prompt_text):
            return conv.get("turns", []), m
    return [], None


def est_tokens(obj):
    try:
        n = len(json.dumps(obj)) if not isinstance(obj, str) else len(obj)
    except Exception:
        n = 100
    return max(1, n // 4)


def new_id(prefix):
    return prefix + uuid.uuid4().hex[:24]


# --------------------------------------------------------------------------
# conversation analysis (one function per wire format)
#
# Each returns (prompt_text, turn_index).  A conversation after the last
# genuine user prompt is a sequence of model items (M) and tool results (T);
# the turn index is the number of maximal runs of M.

def _count_model_runs(kinds):
    n, prev = 0, None
    for k in kinds:
        if k == "M" and prev != "M":
            n += 1
        prev = k
    return n


def _text_of_anthropic_content(content):
    if isinstance(content, str):
        return content
    parts = []
    for b in content or []:
        if isinstance(b, dict) and b.get("type") == "text":
            parts.append(b.get("text", ""))
    return "\n".join(parts)


def _strip_reminders(text):
    # Claude Code wraps injected context in <system-reminder> tags.
    return re.sub(r"<system-reminder>.*?</system-reminder>", "", text or "", flags=re.S).strip()


def analyse_anthropic(body):
    msgs = body.get("messages") or []
    last_prompt = -1
    prompt_text = ""
    for i, m in enumerate(msgs):
        if m.get("role") != "user":
            continue
        c = m.get("content")
        if isinstance(c, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in c):
            continue
        t = _strip_reminders(_text_of_anthropic_content(c))
        if not t:
            continue  # reminder-only message: not a genuine prompt
        last_prompt, prompt_text = i, t
    kinds = []
    for m in msgs[last_prompt + 1:]:
        r = m.get("role")
        if r == "assistant":
            kinds.append("M")
        elif r == "user":
            kinds.append("T")
        # role "system" messages (mid-conversation system text) are ignored
    return prompt_text, _count_model_runs(kinds)


def _text_of_chat_content(content):
    if isinstance(content, str):
        return content
    parts = []
    for b in content or []:
        if isinstance(b, dict) and b.get("type") in ("text", "input_text"):
            parts.append(b.get("text", ""))
    return "\n".join(parts)


def analyse_chat(body):
    msgs = body.get("messages") or []
    last_prompt = -1
    prompt_text = ""
    for i, m in enumerate(msgs):
        if m.get("role") == "user":
            last_prompt, prompt_text = i, _text_of_chat_content(m.get("content"))
    kinds = []
    for m in msgs[last_prompt + 1:]:
        r = m.get("role")
        if r == "assistant":
            kinds.append("M")
        elif r in ("tool", "function"):
            kinds.append("T")
    return prompt_text, _count_model_runs(kinds)


CODEX_CONTEXT_PREFIXES = ("<environment_context>", "<user_instructions>", "# AGENTS.md",
                          "<permissions", "<user_shell_command>", "<turn_aborted>",
                          "<skills_instructions>", "<INSTRUCTIONS>", "<collaboration_mode>",
                          "<apps_instructions>", "<model_switch>")

MODEL_ITEM_TYPES = ("function_call", "custom_tool_call", "local_shell_call", "reasoning",
                    "web_search_call", "tool_search_call")
TOOL_OUTPUT_TYPES = ("function_call_output", "custom_tool_call_output", "local_shell_call_output",
                     "tool_search_output")


def analyse_responses(body):
    items = body.get("input")
    if isinstance(items, str):
        return items, 0
    items = items or []
    last_prompt = -1
    prompt_text = ""
    for i, it in enumerate(items):
        typ = it.get("type", "message")
        if typ == "message" and it.get("role") == "user":
            t = _text_of_chat_content(it.get("content")).strip()
            if not t or t.startswith(CODEX_CONTEXT_PREFIXES):
                continue
            last_prompt, prompt_text = i, t
    kinds = []
    for it in items[last_prompt + 1:]:
        typ = it.get("type", "message")
        if typ in MODEL_ITEM_TYPES or (typ == "message" and it.get("role") == "assistant"):
            kinds.append("M")
        elif typ in TOOL_OUTPUT_TYPES:
            kinds.append("T")
    return prompt_text, _count_model_runs(kinds)


def analyse_gemini(body):
    contents = body.get("contents") or []
    last_prompt = -1
    prompt_text = ""
    for i, c in enumerate(contents):
        if c.get("role", "user") != "user":
            continue
        parts = c.get("parts") or []
        if any(isinstance(p, dict) and "functionResponse" in p for p in parts):
            continue
        t = "\n".join(p.get("text", "") for p in parts if isinstance(p, dict) and "text" in p).strip()
        t = _strip_reminders(t)
        if not t:
            continue
        last_prompt, prompt_text = i, t
    kinds = []
    for c in contents[last_prompt + 1:]:
        kinds.append("M" if c.get("role") == "model" else "T")
    return prompt_text, _count_model_runs(kinds)


# --------------------------------------------------------------------------
# helpers to turn abstract actions into concrete tool calls

# Applied to the raw JSON text of a request, so a path ends at a quote or at a
# backslash (the start of an escaped newline), as well as at whitespace or "<".
CWD_PATTERNS = [
    re.compile(r"Primary working directory:\s*(/[^\s<\"\\]+)"),
    re.compile(r"Working directory:\s*(/[^\s<\"\\]+)"),
    re.compile(r"<cwd>\s*(/[^\s<\"\\]+)\s*</cwd>"),
    # Gemini CLI lists its workspace: "- **Workspace Directories:**\n  - /path" (git-agent's
    # addition to the rig's patterns: without it Gemini's writes went to the fallback).
    re.compile(r"\*\*Workspace Directories:\*\*(?:\\n|\s)*-\s*(/[^\s<\"\\]+)"),
]


def detect_cwd(raw_text):
    """The agent's working directory as stated in the request, else --cwd."""
    for pat in CWD_PATTERNS:
        m = pat.search(raw_text)
        if m:
            path = m.group(1)
            return path[:-1] if path.endswith(".") and len(path) > 1 else path
    return ARGS.cwd


def abspath_for(rel, cwd):
    if os.path.isabs(rel) or not cwd:
        return rel
    return os.path.join(cwd, rel)


def heredoc_cmd(path, content):
    tag = "FAKE_LLM_EOF"
    while tag in content:
        tag += "_X"
    body = content if content.endswith("\n") else content + "\n"
    # a heredoc always ends in a newline; trim it when the content has none
    if content.endswith("\n"):
        return "mkdir -p \"$(dirname '%s')\" && cat > '%s' <<'%s'\n%s%s" % (path, path, tag, body, tag)
    return ("mkdir -p \"$(dirname '%s')\" && cat > '%s' <<'%s'\n%s%s\n"
            "truncate -s -1 '%s'" % (path, path, tag, body, tag, path))


def apply_patch_text(path, content):
    lines = content.split("\n")
    if content.endswith("\n"):
        lines = lines[:-1]
    body = "".join("+" + ln + "\n" for ln in lines)
    return "*** Begin Patch\n*** Add File: %s\n%s*** End Patch\n" % (path, body)


def tool_names_anthropic(body):
    return [t.get("name") for t in (body.get("tools") or []) if isinstance(t, dict)]


def find_param(schema_props, candidates):
    for c in candidates:
        if c in schema_props:
            return c
    return None


WRITE_TOOLS = ("write", "Write", "write_file", "create_file")
READ_TOOLS = ("read", "Read", "read_file")
SHELL_TOOLS = ("bash", "Bash", "shell", "run_shell_command", "exec_command", "shell_command")
PATH_KEYS = ("filePath", "file_path", "path", "absolute_path", "filename")
CONTENT_KEYS = ("content", "contents", "text")
COMMAND_KEYS = ("command", "cmd")


def generic_tool_call(turn, schemas, cwd):
    """Map an abstract turn onto whichever tool the client offers.

    schemas: {tool_name: {param_name: param_schema}}.  Returns (name, args) or None."""
    if "tool" in turn:
        return turn["tool"], turn.get("input", {})
    if "write" in turn:
        for name in WRITE_TOOLS:
            if name in schemas:
                pk = find_param(schemas[name], PATH_KEYS)
                ck = find_param(schemas[name], CONTENT_KEYS)
                if pk and ck:
                    return name, {pk: abspath_for(turn["write"], cwd), ck: turn.get("content", "")}
        turn = {"shell": heredoc_cmd(abspath_for(turn["write"], cwd), turn.get("content", ""))}
    if "read" in turn:
        for name in READ_TOOLS:
            if name in schemas:
                pk = find_param(schemas[name], PATH_KEYS)
                if pk:
                    return name, {pk: abspath_for(turn["read"], cwd)}
        turn = {"shell": "cat '%s'" % turn["read"]}
    if "shell" in turn:
        for name in SHELL_TOOLS:
            if name in schemas:
                props = schemas[name]
                args = {find_param(props, COMMAND_KEYS) or "command": turn["shell"]}
                if "description" in props:
                    args["description"] = turn.get("description", "Run scripted command")
                return name, args
    return None


def schema_example(schema, name=""):
    """A minimal value satisfying a JSON schema (for JSON-mode auxiliary calls)."""
    if not isinstance(schema, dict):
        return None
    if name == "next_speaker":
        return "user"
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = typ[0]
    typ = (typ or "").lower()
    if typ == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: schema_example(v, k) for k, v in props.items()}
    if typ == "array":
        n = schema.get("minItems", 0)
        return [schema_example(schema.get("items", {})) for _ in range(n)]
    if typ in ("integer", "number"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum", 1))
        return lo + 1 if "exclusiveMinimum" in schema else lo
    if typ == "boolean":
        return False
    if typ == "string" and schema.get("minLength", 0) > 8:
        return "scripted" * (schema["minLength"] // 8 + 1)
    return "scripted"


# --------------------------------------------------------------------------
# classification of auxiliary requests

AUX_PATTERNS = [
    "generates concise, one-line Git commit messages",  # aider commit message
    "commit message",
    "Briefly summarize",                                  # aider summaries
    "Generate a concise",                                 # claude titles
    "session title",
    "Analyze if this message indicates a new conversation topic",
    "Your task is to create a detailed summary of the conversation",
    "You are a title generator",                          # opencode
    "Generate a title",
]


def aux_reason_anthropic(body):
    tools = tool_names_anthropic(body)
    if not any(n in tools for n in ("Bash", "Write", "Edit", "Read")):
        return "no-agent-tools"
    return None


def aux_reason_text(system_text, has_tools):
    if has_tools:
        return None
    for p in AUX_PATTERNS:
        if p.lower() in (system_text or "").lower():
            return "pattern:" + p
    return None


def aux_text_for(reason, raw):
    if "commit" in (reason or "").lower():
        return SCRIPT.get("commit_message", "Apply scripted change")
    if "title" in raw.lower()[:20000] and '"title"' in raw:
        return json.dumps({"title": "Scripted session"})
    return "Scripted session"


# --------------------------------------------------------------------------
# HTTP handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-llm/1.0"

    def log_message(self, fmt, *args):  # silence default stderr logging
        if ARGS.verbose:
            sys.stderr.write("fake_llm: " + (fmt % args) + "\n")

    # ---- plumbing -------------------------------------------------------
    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = b""
        if n:
            data = self.rfile.read(n)
        elif (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            data = b"".join(chunks)
        enc = (self.headers.get("Content-Encoding") or "").lower()
        if enc in ("gzip", "deflate"):
            data = zlib.decompress(data, 16 + zlib.MAX_WBITS if enc == "gzip" else zlib.MAX_WBITS)
        elif enc:
            log({"event": "unsupported-content-encoding", "encoding": enc, "path": self.path})
        return data

    def _send_json(self, status, obj, extra_headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _start_sse(self, extra_headers=None):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.close_connection = True

    def _sse(self, event, data):
        chunk = ""
        if event:
            chunk += "event: %s\n" % event
        chunk += "data: %s\n\n" % (data if isinstance(data, str) else json.dumps(data))
        self.wfile.write(chunk.encode())
        self.wfile.flush()

    def _common_log(self, path, body, raw, extra):
        with LOG_LOCK:
            SEQ[0] += 1
            seq = SEQ[0]
        rec = {"seq": seq, "method": self.command, "path": path,
               "headers": redact_headers(self.headers)}
        if ARGS.log_bodies == "full":
            rec["body"] = body if body is not None else raw[:2000].decode("utf-8", "replace")
        else:
            rec["body_bytes"] = len(raw)
        rec.update(extra)
        log(rec)

    # ---- verbs -----------------------------------------------------------
    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        path = self.path.split("?")[0]
        self._common_log(path, None, b"", {"kind": "get"})
        p = path[3:] if path.startswith("/v1/") else path
        if p.rstrip("/") in ("/models", "models"):
            model = ARGS.model
            return self._send_json(200, {
                "object": "list",
                "data": [{"id": model, "object": "model", "created": 0, "owned_by": "fake",
                          "type": "model", "display_name": model,
                          "created_at": "2025-01-01T00:00:00Z"}],
                "models": [],
                "has_more": False, "first_id": model, "last_id": model})
        if p.startswith("/models/"):
            model = p.split("/", 2)[2]
            return self._send_json(200, {"id": model, "object": "model", "type": "model",
                                         "display_name": model, "created_at": "2025-01-01T00:00:00Z"})
        return self._send_json(200, {})

    def do_POST(self):
        path = self.path.split("?")[0]
        raw = self._read_body()
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except Exception:
            body = None
        p = path[3:] if path.startswith("/v1/") else path
        p = "/" + p.lstrip("/")
        gm = GEMINI_PATH.match(path)
        try:
            if gm:
                return self.handle_gemini(path, gm.group(1), gm.group(2), body or {}, raw)
            if p == "/messages/count_tokens":
                self._common_log(path, body, raw, {"kind": "count_tokens"})
                return self._send_json(200, {"input_tokens": est_tokens(body)})
            if p == "/messages":
                return self.handle_anthropic(path, body or {}, raw)
            if p == "/chat/completions":
                return self.handle_chat(path, body or {}, raw)
            if p == "/responses":
                return self.handle_responses(path, body or {}, raw)
            self._common_log(path, body, raw, {"kind": "unknown"})
            return self._send_json(200, {})
        except (BrokenPipeError, ConnectionResetError):
            log({"event": "client-disconnected", "path": path})

    # ---- turn selection ----------------------------------------------------
    def _select(self, prompt_text, index):
        turns, matched = pick_turns(prompt_text)
        if index < len(turns):
            return turns[index], matched, False
        return {"text": SCRIPT["default_text"]}, matched, True

    def _maybe_error(self, turn, fmt):
        err = turn.get("error")
        if not err:
            return False
        times = err.get("times")
        if times is not None:
            key = id(turn)
            with LOG_LOCK:
                served = ERROR_COUNTS.get(key, 0)
                if served >= int(times):
                    return False  # transient error used up: play the rest of the turn
                ERROR_COUNTS[key] = served + 1
        status = int(err.get("status", 400))
        limited = status == 429
        msg = err.get("message", RATE_LIMIT_MESSAGES[fmt] if limited else "scripted error")
        if fmt == "anthropic":
            obj = {"type": "error", "error": {
                "type": err.get("type", "rate_limit_error" if limited else "invalid_request_error"),
                "message": msg}}
        elif fmt == "gemini":
            obj = {"error": {"code": status, "message": msg,
                             "status": err.get("type", "RESOURCE_EXHAUSTED" if limited else "INVALID_ARGUMENT")}}
            if limited and err.get("retry_after") is not None:
                # Google's own way of saying when to retry (google.rpc.RetryInfo).
                obj["error"]["details"] = [{
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": "%ss" % err["retry_after"]}]
        else:
            obj = {"error": {"message": msg,
                             "type": err.get("type", "requests" if limited else "invalid_request_error"),
                             "param": None,
                             "code": err.get("code", "rate_limit_exceeded" if limited else None)}}
        # "fields" are merged into the provider's error object: e.g. codex's usage limit
        # {"type": "usage_limit_reached", "plan_type": "plus", "resets_at": EPOCH}.
        obj["error"].update(err.get("fields") or {})
        headers = {}
        if err.get("retry_after") is not None:
            headers["retry-after"] = str(err["retry_after"])
        headers.update(err.get("headers") or {})
        self._send_json(status, obj, headers)
        return True

    def _delay(self, turn):
        d = turn.get("delay")
        if d:
            time.sleep(float(d))

    # ======================================================================
    # Anthropic Messages API
    # ======================================================================
    def handle_anthropic(self, path, body, raw):
        raw_text = raw.decode("utf-8", "replace")
        aux = aux_reason_anthropic(body)
        stream = bool(body.get("stream"))
        model = body.get("model") or ARGS.model
        if aux:
            text = aux_text_for(aux, raw_text)
            self._common_log(path, body, raw, {"kind": "anthropic-aux", "aux": aux,
                                               "reply": text})
            return self._anthropic_reply(model, [{"type": "text", "text": text}], "end_turn",
                                         stream, body)
        prompt, idx = analyse_anthropic(body)
        turn, matched, exhausted = self._select(prompt, idx)
        self._common_log(path, body, raw, {"kind": "anthropic-main", "turn_index": idx,
                                           "matched": matched, "exhausted": exhausted,
                                           "turn": turn, "prompt": prompt[:500]})
        self._delay(turn)
        if self._maybe_error(turn, "anthropic"):
            return
        tools = tool_names_anthropic(body)
        cwd = detect_cwd(raw_text)
        blocks = []
        if turn.get("text") and not self._is_text_only(turn):
            blocks.append({"type": "text", "text": turn["text"]})
        call = self._anthropic_tool_call(turn, tools, cwd)
        if call:
            blocks.append(call)
            stop = "tool_use"
        else:
            blocks.append({"type": "text", "text": turn.get("text", SCRIPT["default_text"])})
            stop = "end_turn"
        return self._anthropic_reply(model, blocks, stop, stream, body)

    @staticmethod
    def _is_text_only(turn):
        return not any(k in turn for k in ("write", "shell", "read", "tool"))

    def _anthropic_tool_call(self, turn, tools, cwd):
        tid = new_id("toolu_")
        if "tool" in turn:
            return {"type": "tool_use", "id": tid, "name": turn["tool"], "input": turn.get("input", {})}
        if "write" in turn:
            path = abspath_for(turn["write"], cwd)
            if "Write" in tools:
                return {"type": "tool_use", "id": tid, "name": "Write",
                        "input": {"file_path": path, "content": turn.get("content", "")}}
            return {"type": "tool_use", "id": tid, "name": "Bash",
                    "input": {"command": heredoc_cmd(path, turn.get("content", "")),
                              "description": "Write %s" % turn["write"]}}
        if "read" in turn:
            return {"type": "tool_use", "id": tid, "name": "Read",
                    "input": {"file_path": abspath_for(turn["read"], cwd)}}
        if "shell" in turn:
            return {"type": "tool_use", "id": tid, "name": "Bash",
                    "input": {"command": turn["shell"],
                              "description": turn.get("description", "Run scripted command")}}
        return None

    def _anthropic_reply(self, model, blocks, stop, stream, body):
        msg_id = new_id("msg_")
        in_tok = est_tokens(body.get("messages", []))
        out_tok = est_tokens(blocks)
        usage = {"input_tokens": in_tok, "output_tokens": out_tok,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if not stream:
            return self._send_json(200, {
                "id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": blocks, "stop_reason": stop, "stop_sequence": None, "usage": usage},
                {"request-id": new_id("req_")})
        self._start_sse({"request-id": new_id("req_")})
        self._sse("message_start", {"type": "message_start", "message": {
            "id": msg_id, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": dict(usage, output_tokens=1)}})
        self._sse("ping", {"type": "ping"})
        for i, b in enumerate(blocks):
            if b["type"] == "text":
                self._sse("content_block_start", {"type": "content_block_start", "index": i,
                                                  "content_block": {"type": "text", "text": ""}})
                for piece in _chunks(b["text"], 40):
                    self._sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                      "delta": {"type": "text_delta", "text": piece}})
            else:
                self._sse("content_block_start", {"type": "content_block_start", "index": i,
                                                  "content_block": {"type": "tool_use", "id": b["id"],
                                                                    "name": b["name"], "input": {}}})
                for piece in _chunks(json.dumps(b["input"]), 60):
                    self._sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                      "delta": {"type": "input_json_delta",
                                                                "partial_json": piece}})
            self._sse("content_block_stop", {"type": "content_block_stop", "index": i})
        self._sse("message_delta", {"type": "message_delta",
                                    "delta": {"stop_reason": stop, "stop_sequence": None},
                                    "usage": {"output_tokens": out_tok}})
        self._sse("message_stop", {"type": "message_stop"})

    # ======================================================================
    # OpenAI Chat Completions
    # ======================================================================
    def handle_chat(self, path, body, raw):
        raw_text = raw.decode("utf-8", "replace")
        model = body.get("model") or ARGS.model
        stream = bool(body.get("stream"))
        tools = body.get("tools") or []
        system_text = "\n".join(_text_of_chat_content(m.get("content"))
                                for m in body.get("messages", []) if m.get("role") in ("system", "developer"))
        aux = aux_reason_text(system_text, bool(tools))
        if aux:
            text = aux_text_for(aux, raw_text)
            self._common_log(path, body, raw, {"kind": "chat-aux", "aux": aux, "reply": text})
            return self._chat_reply(model, text, [], stream, body)
        prompt, idx = analyse_chat(body)
        turn, matched, exhausted = self._select(prompt, idx)
        self._common_log(path, body, raw, {"kind": "chat-main", "turn_index": idx,
                                           "matched": matched, "exhausted": exhausted,
                                           "turn": turn, "prompt": prompt[:500],
                                           "tools": [t.get("function", {}).get("name") for t in tools]})
        self._delay(turn)
        if self._maybe_error(turn, "openai"):
            return
        cwd = detect_cwd(raw_text)
        if not tools:
            # No tool calling (Aider): fold this and following tool turns up to and
            # including the next text turn into one answer with edit blocks.
            text = self._fold_text_edits(prompt, idx, system_text)
            return self._chat_reply(model, text, [], stream, body)
        call = self._chat_tool_call(turn, tools, cwd)
        pre = turn.get("text") if not self._is_text_only(turn) else None
        if call:
            return self._chat_reply(model, pre or "", [call], stream, body)
        return self._chat_reply(model, turn.get("text", SCRIPT["default_text"]), [], stream, body)

    def _fold_text_edits(self, prompt, idx, system_text):
        turns, _ = pick_turns(prompt)
        diff_fmt = "SEARCH/REPLACE" in system_text
        out = []
        for turn in turns[idx:] or [{"text": SCRIPT["default_text"]}]:
            if turn.get("text") and self._is_text_only(turn):
                out.append(turn["text"])
                break
            if turn.get("text"):
                out.append(turn["text"])
            if "write" in turn:
                content = turn.get("content", "")
                if not content.endswith("\n"):
                    content += "\n"
                fence = "```"
                if diff_fmt:
                    out.append("%s\n%s\n<<<<<<< SEARCH\n=======\n%s>>>>>>> REPLACE\n%s"
                               % (turn["write"], fence, content, fence))
                else:
                    out.append("%s\n%s\n%s%s" % (turn["write"], fence, content, fence))
            elif "shell" in turn:
                out.append("```bash\n%s\n```" % turn["shell"])
        return "\n\n".join(out)

    def _chat_tool_call(self, turn, tools, cwd):
        schemas = {t.get("function", {}).get("name"):
                   (t.get("function", {}).get("parameters") or {}).get("properties", {}) for t in tools}
        picked = generic_tool_call(turn, schemas, cwd)
        if not picked:
            return None
        name, args = picked
        return {"id": new_id("call_"), "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)}}

    def _chat_reply(self, model, text, calls, stream, body):
        cid = new_id("chatcmpl-")
        created = int(time.time())
        finish = "tool_calls" if calls else "stop"
        in_tok = est_tokens(body.get("messages", []))
        out_tok = est_tokens(text) + est_tokens(calls) if calls else est_tokens(text)
        usage = {"prompt_tokens": in_tok, "completion_tokens": out_tok,
                 "total_tokens": in_tok + out_tok}
        if not stream:
            msg = {"role": "assistant", "content": text if (text or not calls) else None}
            if calls:
                msg["tool_calls"] = calls
            return self._send_json(200, {"id": cid, "object": "chat.completion", "created": created,
                                         "model": model, "choices": [{"index": 0, "message": msg,
                                                                      "finish_reason": finish}],
                                         "usage": usage})
        self._start_sse()

        def chunk(delta, finish_reason=None, usage_obj=None, choices=True):
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}] if choices else []}
            if usage_obj is not None:
                obj["usage"] = usage_obj
            self._sse(None, obj)

        chunk({"role": "assistant", "content": ""})
        for piece in _chunks(text or "", 40):
            chunk({"content": piece})
        for i, c in enumerate(calls):
            chunk({"tool_calls": [{"index": i, "id": c["id"], "type": "function",
                                   "function": {"name": c["function"]["name"], "arguments": ""}}]})
            for piece in _chunks(c["function"]["arguments"], 60):
                chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
        chunk({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk(None, usage_obj=usage, choices=False)
        self._sse(None, "[DONE]")

    # ======================================================================
    # OpenAI Responses API (Codex)
    # ======================================================================
    def handle_responses(self, path, body, raw):
        raw_text = raw.decode("utf-8", "replace")
        model = body.get("model") or ARGS.model
        stream = body.get("stream", True) is not False
        tools = body.get("tools") or []
        instructions = body.get("instructions") or ""
        aux = None
        if not tools:
            aux = aux_reason_text(instructions, False) or "no-tools"
        if aux:
            text = aux_text_for(aux, raw_text)
            self._common_log(path, body, raw, {"kind": "responses-aux", "aux": aux, "reply": text})
            return self._responses_reply(model, [self._resp_message(text)], stream, body)
        prompt, idx = analyse_responses(body)
        turn, matched, exhausted = self._select(prompt, idx)
        self._common_log(path, body, raw, {
            "kind": "responses-main", "turn_index": idx, "matched": matched,
            "exhausted": exhausted, "turn": turn, "prompt": prompt[:500],
            "tools": [t.get("name") or t.get("type") for t in tools]})
        self._delay(turn)
        if self._maybe_error(turn, "openai"):
            return
        cwd = detect_cwd(raw_text)
        items = []
        if turn.get("text") and not self._is_text_only(turn):
            items.append(self._resp_message(turn["text"]))
        call = self._responses_tool_call(turn, tools, cwd)
        if call:
            items.append(call)
        else:
            items.append(self._resp_message(turn.get("text", SCRIPT["default_text"])))
        return self._responses_reply(model, items, stream, body)

    @staticmethod
    def _resp_message(text):
        return {"id": new_id("msg_"), "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]}

    def _responses_tool_call(self, turn, tools, cwd):
        by_name = {}
        for t in tools:
            name = t.get("name") or t.get("type")
            by_name[name] = t
        call_id = new_id("call_")

        def fn(name, args):
            return {"id": new_id("fc_"), "type": "function_call", "status": "completed",
                    "call_id": call_id, "name": name, "arguments": json.dumps(args)}

        if "tool" in turn:
            spec = by_name.get(turn["tool"], {})
            if spec.get("type") == "custom":
                return {"id": new_id("ctc_"), "type": "custom_tool_call", "status": "completed",
                        "call_id": call_id, "name": turn["tool"], "input": turn.get("input", "")}
            return fn(turn["tool"], turn.get("input", {}))
        if "write" in turn:
            patch = apply_patch_text(turn["write"], turn.get("content", ""))
            spec = by_name.get("apply_patch")
            if spec is not None and spec.get("type") == "custom":
                return {"id": new_id("ctc_"), "type": "custom_tool_call", "status": "completed",
                        "call_id": call_id, "name": "apply_patch", "input": patch}
            if spec is not None:
                return fn("apply_patch", {"input": patch})
            turn = {"shell": heredoc_cmd(turn["write"], turn.get("content", ""))}
        if "read" in turn:
            turn = {"shell": "cat '%s'" % turn["read"]}
        if "shell" in turn:
            cmd = turn["shell"]
            if "exec_command" in by_name:
                return fn("exec_command", {"cmd": cmd, "workdir": cwd} if cwd else {"cmd": cmd})
            if "shell_command" in by_name:
                return fn("shell_command", {"command": cmd, "workdir": cwd} if cwd else {"command": cmd})
            if "shell" in by_name:
                return fn("shell", {"command": ["bash", "-lc", cmd], "workdir": cwd} if cwd
                          else {"command": ["bash", "-lc", cmd]})
            if "local_shell" in by_name:
                return {"id": new_id("lsh_"), "type": "local_shell_call", "status": "completed",
                        "call_id": call_id,
                        "action": {"type": "exec", "command": ["bash", "-lc", cmd],
                                   "working_directory": cwd}}
        return None

    def _responses_reply(self, model, items, stream, body):
        rid = new_id("resp_")
        created = int(time.time())
        in_tok = est_tokens(body.get("input", []))
        out_tok = est_tokens(items)
        usage = {"input_tokens": in_tok, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": out_tok, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": in_tok + out_tok}
        base = {"id": rid, "object": "response", "created_at": created, "model": model,
                "status": "in_progress", "output": [], "usage": None, "error": None,
                "incomplete_details": None}
        done = dict(base, status="completed", output=items, usage=usage)
        if not stream:
            return self._send_json(200, done)
        self._start_sse()
        seq = [0]

        def ev(name, obj):
            obj = dict(obj, type=name, sequence_number=seq[0])
            seq[0] += 1
            self._sse(name, obj)

        ev("response.created", {"response": base})
        ev("response.in_progress", {"response": base})
        for oi, it in enumerate(items):
            if it["type"] == "message":
                text = it["content"][0]["text"]
                ev("response.output_item.added", {"output_index": oi, "item": dict(
                    it, status="in_progress", content=[])})
                ev("response.content_part.added", {"output_index": oi, "item_id": it["id"],
                                                   "content_index": 0,
                                                   "part": {"type": "output_text", "text": "",
                                                            "annotations": []}})
                for piece in _chunks(text, 40):
                    ev("response.output_text.delta", {"output_index": oi, "item_id": it["id"],
                                                      "content_index": 0, "delta": piece})
                ev("response.output_text.done", {"output_index": oi, "item_id": it["id"],
                                                 "content_index": 0, "text": text})
                ev("response.content_part.done", {"output_index": oi, "item_id": it["id"],
                                                  "content_index": 0, "part": it["content"][0]})
            elif it["type"] == "function_call":
                ev("response.output_item.added", {"output_index": oi, "item": dict(
                    it, status="in_progress", arguments="")})
                for piece in _chunks(it["arguments"], 60):
                    ev("response.function_call_arguments.delta", {"output_index": oi,
                                                                  "item_id": it["id"], "delta": piece})
                ev("response.function_call_arguments.done", {"output_index": oi, "item_id": it["id"],
                                                             "arguments": it["arguments"]})
            elif it["type"] == "custom_tool_call":
                ev("response.output_item.added", {"output_index": oi, "item": dict(
                    it, status="in_progress", input="")})
                for piece in _chunks(it["input"], 60):
                    ev("response.custom_tool_call_input.delta", {"output_index": oi,
                                                                 "item_id": it["id"], "delta": piece})
                ev("response.custom_tool_call_input.done", {"output_index": oi, "item_id": it["id"],
                                                            "input": it["input"]})
            else:
                ev("response.output_item.added", {"output_index": oi, "item": it})
            ev("response.output_item.done", {"output_index": oi, "item": it})
        ev("response.completed", {"response": done})

    # ======================================================================
    # Gemini API (generateContent / streamGenerateContent / countTokens)
    # ======================================================================

    def handle_gemini(self, path, model, method, body, raw):
        raw_text = raw.decode("utf-8", "replace")
        if method == "countTokens":
            self._common_log(path, body, raw, {"kind": "gemini-count"})
            return self._send_json(200, {"totalTokens": est_tokens(body)})
        if method not in ("generateContent", "streamGenerateContent"):
            self._common_log(path, body, raw, {"kind": "gemini-unknown"})
            return self._send_json(200, {})
        stream = method == "streamGenerateContent"
        schemas = {}
        for t in body.get("tools") or []:
            for d in t.get("functionDeclarations") or []:
                ps = d.get("parametersJsonSchema") or d.get("parameters") or {}
                schemas[d.get("name")] = ps.get("properties", {}) or {}
        if not any(n in schemas for n in WRITE_TOOLS + SHELL_TOOLS):
            gc = body.get("generationConfig") or {}
            js = gc.get("responseJsonSchema") or gc.get("responseSchema")
            if js or gc.get("responseMimeType") == "application/json":
                text = json.dumps(schema_example(js or {"type": "object"}))
            else:
                text = "Scripted session"
            self._common_log(path, body, raw, {"kind": "gemini-aux", "reply": text})
            return self._gemini_reply(model, [{"text": text}], stream, body)
        prompt, idx = analyse_gemini(body)
        turn, matched, exhausted = self._select(prompt, idx)
        self._common_log(path, body, raw, {"kind": "gemini-main", "turn_index": idx,
                                           "matched": matched, "exhausted": exhausted,
                                           "turn": turn, "prompt": prompt[:500],
                                           "tools": sorted(schemas)})
        self._delay(turn)
        if self._maybe_error(turn, "gemini"):
            return
        cwd = detect_cwd(raw_text)
        parts = []
        if turn.get("text") and not self._is_text_only(turn):
            parts.append({"text": turn["text"]})
        picked = generic_tool_call(turn, schemas, cwd)
        if picked:
            parts.append({"functionCall": {"id": new_id("call_"), "name": picked[0], "args": picked[1]}})
        else:
            parts.append({"text": turn.get("text", SCRIPT["default_text"])})
        return self._gemini_reply(model, parts, stream, body)

    def _gemini_reply(self, model, parts, stream, body):
        in_tok = est_tokens(body.get("contents", []))
        out_tok = est_tokens(parts)
        usage = {"promptTokenCount": in_tok, "candidatesTokenCount": out_tok,
                 "totalTokenCount": in_tok + out_tok}
        rid = new_id("")

        def resp(ps, finish):
            cand = {"content": {"role": "model", "parts": ps}, "index": 0}
            if finish:
                cand["finishReason"] = "STOP"
            out = {"candidates": [cand], "modelVersion": model, "responseId": rid}
            if finish:
                out["usageMetadata"] = usage
            return out

        if not stream:
            return self._send_json(200, resp(parts, True))
        self._start_sse()
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            self._sse(None, resp([part], last))


def _chunks(s, n):
    if not s:
        return []
    return [s[i:i + n] for i in range(0, len(s), n)]


# --------------------------------------------------------------------------
# main

def main():
    global ARGS, SCRIPT, LOG_FH
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--script", required=True, help="JSON script of turns")
    ap.add_argument("--port", type=int, default=int(os.environ.get("FAKE_LLM_PORT", "0")),
                    help="port on 127.0.0.1 (default $FAKE_LLM_PORT or 0 = pick a free one)")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--log", default=os.environ.get("FAKE_LLM_LOG"),
                    help="append JSON lines of every request here")
    ap.add_argument("--log-bodies", choices=("full", "size"), default="full")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("FAKE_LLM_TIMEOUT", "600")),
                    help="exit by itself after this many seconds (default 600)")
    ap.add_argument("--cwd", default=None,
                    help="fallback working directory for absolute paths when the request "
                         "does not reveal one")
    ap.add_argument("--model", default="fake-model", help="model id reported by /v1/models")
    ap.add_argument("--verbose", action="store_true")
    ARGS = ap.parse_args()
    SCRIPT = load_script(ARGS.script)
    if ARGS.log:
        LOG_FH = open(ARGS.log, "a", encoding="utf-8")

    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    port = srv.server_address[1]
    if ARGS.port_file:
        tmp = ARGS.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(str(port))
        os.replace(tmp, ARGS.port_file)
    log({"event": "listening", "port": port, "pid": os.getpid(), "script": ARGS.script})
    if ARGS.verbose:
        sys.stderr.write("fake_llm: listening on 127.0.0.1:%d\n" % port)

    def watchdog():
        time.sleep(ARGS.timeout)
        log({"event": "timeout-exit", "after_s": ARGS.timeout})
        os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        log({"event": "exit"})


if __name__ == "__main__":
    main()
