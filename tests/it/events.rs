//! The event parsers against streams recorded from the real CLIs (fixtures copied from the
//! agent rig's examples), plus damaged streams.

use git_agent::agents::output::{Format, Outcome, Renderer, outcome_of};

fn fixture(cli: &str, file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/events")
        .join(cli)
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn render(format: Format, text: &str) -> String {
    let mut r = Renderer::new(format);
    let mut out: String = text.lines().map(|l| r.line(l)).collect();
    out.push_str(&r.close());
    out
}

#[test]
fn claude_stream_json() {
    let o = outcome_of(Format::Claude, &fixture("claude", "run1.out"));
    assert_eq!(
        o.session_id.as_deref(),
        Some("3abde472-ab1c-4e05-b1d2-e9db1258f336")
    );
    assert_eq!(o.ok, Some(true));
    assert_eq!(
        o.result.as_deref(),
        Some("Created hello.txt containing 'hello from claude'.")
    );
    assert_eq!(o.turns, 2);
    assert_eq!(o.usage.cost_usd, Some(0.019365));
    assert_eq!(o.usage.input_tokens, Some(3493));
    assert_eq!(o.usage.output_tokens, Some(76));
    let resumed = outcome_of(Format::Claude, &fixture("claude", "resume.out"));
    assert_eq!(resumed.session_id, o.session_id, "resume keeps the session");

    let e = outcome_of(Format::Claude, &fixture("claude", "error.out"));
    assert_eq!(e.ok, Some(false));
    assert_eq!(
        e.error.as_deref(),
        Some("API Error: 400 scripted failure: bad request")
    );

    let text = render(Format::Claude, &fixture("claude", "run1.out"));
    assert_eq!(
        text,
        "I'll create hello.txt.\n  > Write /tmp/acc/selftest/claude/wt/hello.txt\nCreated hello.txt containing 'hello from claude'.\n"
    );
}

#[test]
fn codex_exec_json() {
    let o = outcome_of(Format::Codex, &fixture("codex", "run1.out"));
    assert_eq!(
        o.session_id.as_deref(),
        Some("01a1fb8e-50a8-7342-9ee3-59aa5ab95c7e")
    );
    assert_eq!(o.ok, Some(true));
    assert_eq!(o.usage.input_tokens, Some(14055));
    assert_eq!(o.usage.output_tokens, Some(165));
    assert_eq!(o.usage.cost_usd, None, "codex reports no cost");
    assert_eq!(
        o.last_text.as_deref(),
        Some("Created hello.txt containing 'hello from codex'.")
    );
    assert_eq!(
        outcome_of(Format::Codex, &fixture("codex", "resume.out")).session_id,
        o.session_id
    );
    let e = outcome_of(Format::Codex, &fixture("codex", "error.out"));
    assert_eq!(e.ok, Some(false));
    assert_eq!(e.error.as_deref(), Some("scripted failure: bad request"));
    assert!(
        render(Format::Codex, &fixture("codex", "run1.out"))
            .contains("  > File add /tmp/acc/selftest/codex/wt/hello.txt\n")
    );
}

#[test]
fn gemini_stream_json() {
    let o = outcome_of(Format::Gemini, &fixture("gemini", "run1.out"));
    assert_eq!(
        o.session_id.as_deref(),
        Some("902d3a8f-7ea1-418a-b016-2a95baf7298b")
    );
    assert_eq!(o.ok, Some(true));
    assert_eq!(o.usage.input_tokens, Some(630));
    assert_eq!(o.usage.output_tokens, Some(87));
    assert_eq!(
        outcome_of(Format::Gemini, &fixture("gemini", "resume.out")).session_id,
        o.session_id
    );
    let e = outcome_of(Format::Gemini, &fixture("gemini", "error.out"));
    assert_eq!(e.ok, Some(false));
    assert_eq!(e.error.as_deref(), Some("scripted failure: bad request"));
    // Streamed deltas are joined into one line.
    let deltas = concat!(
        "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"Hello \",\"delta\":true}\n",
        "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"world\",\"delta\":true}\n",
        "{\"type\":\"tool_use\",\"tool_name\":\"run_shell_command\",\"parameters\":{\"command\":\"ls -la\"}}\n",
    );
    assert_eq!(
        render(Format::Gemini, deltas),
        "Hello world\n  > run_shell_command ls -la\n"
    );
}

#[test]
fn opencode_json() {
    let o = outcome_of(Format::Opencode, &fixture("opencode", "run1.out"));
    assert_eq!(
        o.session_id.as_deref(),
        Some("ses_e047125a9ffeE9y74Cyy4ahLRX")
    );
    assert_eq!(o.ok, Some(true));
    assert_eq!(o.turns, 2);
    assert_eq!(o.usage.input_tokens, Some(2462 + 2559));
    let cost = o.usage.cost_usd.unwrap();
    assert!((cost - (0.002576 + 0.002583)).abs() < 1e-9, "{cost}");
    assert_eq!(
        outcome_of(Format::Opencode, &fixture("opencode", "resume.out")).session_id,
        o.session_id
    );
    let e = outcome_of(Format::Opencode, &fixture("opencode", "error.out"));
    assert_eq!(e.ok, Some(false));
    assert_eq!(e.error.as_deref(), Some("scripted failure: bad request"));
}

#[test]
fn aider_text() {
    let o = outcome_of(Format::Aider, &fixture("aider", "run1.out"));
    assert_eq!(o.session_id, None);
    assert_eq!(o.usage.cost_usd, Some(0.00083));
    assert_eq!(o.usage.input_tokens, Some(775));
    assert_eq!(o.ok, None, "aider does not say it succeeded");
    let e = outcome_of(Format::Aider, &fixture("aider", "error.out"));
    assert_eq!(
        e.ok,
        Some(false),
        "aider exits 0 on API errors; the output tells"
    );
    assert_eq!(e.error.as_deref(), Some("scripted failure: bad request"));
}

#[test]
fn truncated_and_garbled_streams() {
    for (cli, format) in [
        ("claude", Format::Claude),
        ("codex", Format::Codex),
        ("gemini", Format::Gemini),
        ("opencode", Format::Opencode),
        ("aider", Format::Aider),
    ] {
        let full = fixture(cli, "run1.out");
        // Cut in the middle of the last line, as a killed agent leaves it.
        let cut = &full[..full.trim_end().len() - 10];
        let o: Outcome = outcome_of(format, cut);
        if format != Format::Aider {
            assert!(
                o.session_id.is_some() || cli == "aider",
                "{cli}: the session id survives truncation"
            );
        }
        // Garbage between every line changes nothing.
        let noisy: String = full
            .lines()
            .map(|l| format!("{l}\n\u{1b}[31mnoise\u{1b}[0m\n{{\"type\":\"surprise\"}}\n{{oops\n"))
            .collect();
        let clean = outcome_of(format, &full);
        let dirty = outcome_of(format, &noisy);
        assert_eq!(dirty.session_id, clean.session_id, "{cli}");
        assert_eq!(dirty.ok, clean.ok, "{cli}");
        assert_eq!(dirty.usage, clean.usage, "{cli}");
        // The renderer shows garbage as it came (it is what the agent printed).
        assert!(render(format, &noisy).contains("{oops"), "{cli}");
    }
}
