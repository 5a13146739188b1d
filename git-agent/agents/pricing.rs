//! What models' tokens cost, to estimate what a run spent when its CLI reports tokens but no
//! cost (codex, gemini; claude before its final `result`), so that a budget holds for them.
//!
//! The built-in table is USD per million tokens (input, output, cached input) at the
//! providers' standard API rates, read from their public pricing pages on 2026-12-05:
//!
//! * Anthropic: <https://platform.claude.com/docs/en/about-claude/pricing> and the model
//!   pages (Opus 4.5 to 4.8 and 5 at $5/$25, cache hits $0.50; Opus 4 and 4.1 at $15/$75;
//!   Sonnet 4 to 4.6 at $3/$15; Sonnet 5 at $2/$10; Haiku 4.5 at $1/$5). Claude Code's own
//!   cost for `claude-opus-4-8` agrees (`tests/fixtures/events/claude/run1.out`).
//! * OpenAI: <https://developers.openai.com/api/docs/pricing> and its model pages (GPT-5,
//!   GPT-5-Codex and GPT-5.1 at $1.25/$10, cached $0.125; GPT-5.2 at $1.75/$14; GPT-5.5 at
//!   $5/$30, cached $0.50; the mini and nano models).
//! * Google: <https://ai.google.dev/gemini-api/docs/pricing> (paid tier, text, prompts up to
//!   200K tokens: Gemini 3 Pro and 3.1 Pro preview at $2/$12; 3 Flash preview at $0.50/$3;
//!   2.5 Pro, Flash and Flash-Lite).
//!
//! Estimates use the base rates: long-context surcharges (Gemini Pro over 200K tokens,
//! GPT-5.5 over 272K), cache-write premiums, batch and regional rates are not modelled.
//! A model that is not in the table, or whose price has changed, is priced in git config:
//! `agent.price.<model>.input`, `.output`, `.cached` (USD per million tokens; a bad value is
//! refused naming its key). A model with neither has no estimate: a run that must hold a
//! budget on it is stopped at its first token report instead (see `supervisor/run.rs`).
//!
//! Owns the table, the configured prices and the estimate; it never reads the session
//! record nor decides what a run does when a price is missing.

use std::collections::BTreeMap;

use anyhow::Result;

use super::output::{Format, Outcome, Usage};
use crate::error::Failure;
use crate::git::repo::Config;

/// A model's price in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Input tokens served from the prompt cache.
    pub cached: f64,
}

const fn p(input: f64, output: f64, cached: f64) -> Price {
    Price {
        input,
        output,
        cached,
    }
}

/// The built-in prices, by model id without date suffix (see the module doc for sources).
const TABLE: &[(&str, Price)] = &[
    // Anthropic
    ("claude-opus-5", p(5.0, 25.0, 0.50)),
    ("claude-opus-4-8", p(5.0, 25.0, 0.50)),
    ("claude-opus-4-7", p(5.0, 25.0, 0.50)),
    ("claude-opus-4-6", p(5.0, 25.0, 0.50)),
    ("claude-opus-4-5", p(5.0, 25.0, 0.50)),
    ("claude-opus-4-1", p(15.0, 75.0, 1.50)),
    ("claude-opus-4-0", p(15.0, 75.0, 1.50)),
    ("claude-opus-4", p(15.0, 75.0, 1.50)),
    ("claude-sonnet-5", p(2.0, 10.0, 0.20)),
    ("claude-sonnet-4-6", p(3.0, 15.0, 0.30)),
    ("claude-sonnet-4-5", p(3.0, 15.0, 0.30)),
    ("claude-sonnet-4-0", p(3.0, 15.0, 0.30)),
    ("claude-sonnet-4", p(3.0, 15.0, 0.30)),
    ("claude-haiku-4-5", p(1.0, 5.0, 0.10)),
    // OpenAI
    ("gpt-5.5", p(5.0, 30.0, 0.50)),
    ("gpt-5.2", p(1.75, 14.0, 0.175)),
    ("gpt-5.1", p(1.25, 10.0, 0.125)),
    ("gpt-5.1-codex", p(1.25, 10.0, 0.125)),
    ("gpt-5", p(1.25, 10.0, 0.125)),
    ("gpt-5-codex", p(1.25, 10.0, 0.125)),
    ("gpt-5-mini", p(0.25, 2.0, 0.025)),
    ("gpt-5-nano", p(0.05, 0.40, 0.005)),
    // Google
    ("gemini-3.1-pro-preview", p(2.0, 12.0, 0.20)),
    ("gemini-3-pro-preview", p(2.0, 12.0, 0.20)),
    ("gemini-3-flash-preview", p(0.50, 3.0, 0.05)),
    ("gemini-2.5-pro", p(1.25, 10.0, 0.125)),
    ("gemini-2.5-flash", p(0.30, 2.50, 0.03)),
    ("gemini-2.5-flash-lite", p(0.10, 0.40, 0.01)),
];

/// The prices in force: the built-in table under the ones configured in git config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prices {
    configured: BTreeMap<String, Price>,
}

/// What a run's tokens come to.
#[derive(Debug, Clone, PartialEq)]
pub enum Estimate {
    /// The agent reported its cost itself, or nothing was spent yet.
    NotNeeded,
    /// USD, priced from its tokens.
    Cost(f64),
    /// Tokens were spent on a model with no price (`None`: a model we do not know).
    Unpriced(Option<String>),
}

impl Prices {
    /// The built-in table and `agent.price.<model>.input|output|cached`. A bad value, or a
    /// model outside the table configured without both input and output, is an error naming
    /// the key.
    pub fn from_config(config: &Config) -> Result<Self> {
        let mut configured = BTreeMap::new();
        for model in config.subsections("price") {
            let key = |field: &str| format!("agent.price.{model}.{field}");
            let read = |field: &str| -> Result<Option<f64>> {
                let key = key(field);
                config
                    .string(&key)
                    .map(|v| {
                        parse_price(&v).map_err(|why| {
                            Failure::fatal(format!("bad config value '{v}' for '{key}': {why}"))
                                .into()
                        })
                    })
                    .transpose()
            };
            let (input, output, cached) = (read("input")?, read("output")?, read("cached")?);
            if input.is_none() && output.is_none() && cached.is_none() {
                continue;
            }
            let known = builtin(&normalize(&model));
            let missing = |field: &str| {
                Failure::fatal(format!(
                    "{} is not set: '{model}' is not in the built-in price table, so its price \
                     needs input and output (US dollars per million tokens)",
                    key(field)
                ))
                .hint(format!(
                    "git config {} 1.25; git config {} 10",
                    key("input"),
                    key("output")
                ))
            };
            let Some(input) = input.or(known.map(|k| k.input)) else {
                return Err(missing("input").into());
            };
            let Some(output) = output.or(known.map(|k| k.output)) else {
                return Err(missing("output").into());
            };
            // Cached input never costs more than input.
            let cached = cached.or(known.map(|k| k.cached)).unwrap_or(input);
            configured.insert(
                normalize(&model),
                Price {
                    input,
                    output,
                    cached,
                },
            );
        }
        Ok(Self { configured })
    }

    /// The price of `model` (as a CLI names it: `claude-opus-4-8[1m]`, `openai/gpt-5.5`,
    /// `claude-sonnet-4-5-20250929`), configured first, else built in.
    pub fn of(&self, model: &str) -> Option<Price> {
        let name = normalize(model);
        let undated = strip_date(&name);
        [name.as_str(), undated]
            .into_iter()
            .find_map(|n| self.configured.get(n).copied().or_else(|| builtin(n)))
    }

    /// What the run's tokens come to, if its agent did not report a cost.
    pub fn estimate(&self, format: Format, outcome: &Outcome) -> Estimate {
        let usage = &outcome.usage;
        if usage.cost_usd.is_some() && !usage.cost_estimated {
            return Estimate::NotNeeded;
        }
        let parts: Vec<(Option<&str>, &Usage)> = if outcome.by_model.is_empty() {
            vec![(outcome.model.as_deref(), usage)]
        } else {
            outcome
                .by_model
                .iter()
                .map(|(m, u)| {
                    let m = Some(m.as_str()).filter(|m| !m.is_empty());
                    (m.or(outcome.model.as_deref()), u)
                })
                .collect()
        };
        let mut total = 0.0;
        let mut spent = false;
        for (model, usage) in parts {
            let (fresh, cached, output) = billable(format, usage);
            if fresh + cached + output == 0 {
                continue;
            }
            spent = true;
            let Some(price) = model.and_then(|m| self.of(m)) else {
                return Estimate::Unpriced(model.map(str::to_owned));
            };
            #[allow(clippy::cast_precision_loss)] // token counts are far below 2^52
            let usd = (fresh as f64 * price.input
                + cached as f64 * price.cached
                + output as f64 * price.output)
                / 1_000_000.0;
            total += usd;
        }
        if spent {
            Estimate::Cost(total)
        } else {
            Estimate::NotNeeded
        }
    }

    /// Records the estimate in the outcome's usage (marked estimated) unless the agent
    /// reported a cost; what [`Prices::estimate`] said.
    pub fn price(&self, format: Format, outcome: &mut Outcome) -> Estimate {
        let estimate = self.estimate(format, outcome);
        if let Estimate::Cost(usd) = estimate {
            outcome.usage.cost_usd = Some(usd);
            outcome.usage.cost_estimated = true;
        }
        estimate
    }
}

/// Uncached input, cached input and output tokens. Codex and gemini count cached input
/// within input; claude and opencode apart from it.
fn billable(format: Format, usage: &Usage) -> (u64, u64, u64) {
    let input = usage.input_tokens.unwrap_or(0);
    let cached = usage.cached_tokens.unwrap_or(0);
    let fresh = match format {
        Format::Codex | Format::Gemini => input.saturating_sub(cached),
        _ => input,
    };
    (fresh, cached, usage.output_tokens.unwrap_or(0))
}

fn builtin(name: &str) -> Option<Price> {
    TABLE.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// `openai/GPT-5.5` → `gpt-5.5`; `claude-opus-4-8[1m]` → `claude-opus-4-8`.
fn normalize(model: &str) -> String {
    let m = model.trim();
    let m = m.split_once('[').map_or(m, |(name, _)| name);
    let m = m.rsplit('/').next().unwrap_or(m);
    m.trim().to_lowercase()
}

/// Without a date snapshot suffix: `-20250929` or `-2025-09-29`.
fn strip_date(name: &str) -> &str {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if let Some((base, date)) = name.rsplit_once('-')
        && date.len() == 8
        && digits(date)
    {
        return base;
    }
    if name.len() > 11 {
        let (base, date) = name.split_at(name.len() - 11);
        let d = date.as_bytes();
        if d[0] == b'-'
            && d[5] == b'-'
            && d[8] == b'-'
            && digits(&date[1..5])
            && digits(&date[6..8])
            && digits(&date[9..])
        {
            return base;
        }
    }
    name
}

/// A price in git config: a number of US dollars per million tokens, zero or more.
fn parse_price(text: &str) -> std::result::Result<f64, String> {
    let t = text.trim();
    let number = t.strip_prefix('$').unwrap_or(t).trim();
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err("a price cannot be negative".into()),
        Err(_) => Err("it must be US dollars per million tokens, e.g. 1.25".into()),
    }
}

/// The model an agent's arguments ask for: `-m NAME`, `--model NAME`, `--model=NAME`, or
/// codex's `-c model=NAME` (a TOML value, maybe quoted). The last one wins.
pub fn model_in_args(args: &[String]) -> Option<String> {
    let mut model = None;
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let found = match word.as_str() {
            "-m" | "--model" => words.next().cloned(),
            "-c" | "--config" => words.next().and_then(|kv| config_model(kv)),
            w => w
                .strip_prefix("--model=")
                .map(str::to_owned)
                .or_else(|| w.strip_prefix("--config=").and_then(config_model)),
        };
        if let Some(m) = found.filter(|m| !m.trim().is_empty()) {
            model = Some(m.trim().to_owned());
        }
    }
    model
}

/// `model=NAME` or `model="NAME"` (codex's `-c key=value`, the value TOML).
fn config_model(kv: &str) -> Option<String> {
    let (key, value) = kv.split_once('=')?;
    (key.trim() == "model").then(|| value.trim().trim_matches(['"', '\'']).to_owned())
}

/// The model codex runs when its arguments name none: `model` in its `config.toml`
/// (`$CODEX_HOME`, else `~/.codex`), looked up in `env` first, then in ours.
pub fn codex_configured_model(env: &[(String, String)]) -> Option<String> {
    let var = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    };
    let home = var("CODEX_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| var("HOME").map(|h| std::path::Path::new(&h).join(".codex")))?;
    let text = std::fs::read_to_string(home.join("config.toml")).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    table
        .get("model")
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
}

/// The model a run of `format` with these arguments will use, where that can be known
/// before it runs: for codex (whose stream never names it) its arguments or configuration;
/// for the others their arguments (their streams name it anyway).
pub fn model_before_run(
    format: Format,
    args: &[String],
    env: &[(String, String)],
) -> Option<String> {
    model_in_args(args).or_else(|| {
        (format == Format::Codex)
            .then(|| codex_configured_model(env))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::output::outcome_of;

    fn fixture(path: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(root.join("tests/fixtures").join(path)).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn names_are_normalised_and_dates_dropped() {
        let prices = Prices::default();
        let opus = prices.of("claude-opus-4-8[1m]").unwrap();
        assert_eq!(opus, p(5.0, 25.0, 0.5));
        assert_eq!(
            prices.of("anthropic/Claude-Sonnet-4-5-20250929"),
            Some(p(3.0, 15.0, 0.3))
        );
        assert_eq!(prices.of("gpt-5.5-2026-04-23"), prices.of("gpt-5.5"));
        assert_eq!(prices.of("openai/gpt-5.5").unwrap().output, 30.0);
        assert_eq!(
            prices.of("gemini-3.8-flash"),
            None,
            "not published: no guess"
        );
        assert_eq!(prices.of("claude-opus-4-1").unwrap().input, 15.0);
        assert_eq!(strip_date("gpt-5"), "gpt-5");
        assert_eq!(strip_date("claude-haiku-4-5-20251001"), "claude-haiku-4-5");
    }

    #[test]
    fn claude_is_priced_mid_run_and_its_reported_cost_wins() {
        let text = fixture("events/claude/run1.out");
        let prices = Prices::default();
        // Up to its last assistant line: the two messages, each counted once.
        let mid: String = text
            .lines()
            .take_while(|l| !l.contains("\"type\":\"result\""))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut outcome = outcome_of(Format::Claude, &mid);
        assert_eq!(outcome.model.as_deref(), Some("claude-opus-4-8"));
        assert_eq!(outcome.usage.input_tokens, Some(1681 + 1812));
        let Estimate::Cost(usd) = prices.price(Format::Claude, &mut outcome) else {
            panic!("{outcome:?}")
        };
        assert!(close(usd, (3493.0 * 5.0 + 2.0 * 25.0) / 1e6), "{usd}");
        assert!(outcome.usage.cost_estimated);
        // Then its result: the real cost replaces the estimate.
        for line in text.lines().skip(mid.lines().count()) {
            for event in crate::agents::output::parse_line(Format::Claude, line) {
                outcome.apply(&event);
            }
        }
        assert_eq!(
            prices.price(Format::Claude, &mut outcome),
            Estimate::NotNeeded
        );
        assert_eq!(outcome.usage.cost_usd, Some(0.019_365));
        assert!(!outcome.usage.cost_estimated);
        // Claude Code prices this model as the table does.
        assert!(close(3493.0 * 5.0 / 1e6 + 76.0 * 25.0 / 1e6, 0.019_365));
    }

    #[test]
    fn codex_tokens_are_priced_with_the_model_from_its_arguments() {
        let mut outcome = outcome_of(Format::Codex, &fixture("events/codex/run1.out"));
        assert_eq!(outcome.model, None, "codex's stream never names it");
        let prices = Prices::default();
        assert_eq!(
            prices.estimate(Format::Codex, &outcome),
            Estimate::Unpriced(None)
        );
        let argv: Vec<String> = [
            "exec",
            "--json",
            "-c",
            "model=\"gpt-5.5\"",
            "-c",
            "model_provider=\"fake\"",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        outcome.model = model_in_args(&argv);
        assert_eq!(outcome.model.as_deref(), Some("gpt-5.5"));
        let Estimate::Cost(usd) = prices.price(Format::Codex, &mut outcome) else {
            panic!()
        };
        let usage = outcome.usage;
        let (input, cached, output) = (
            usage.input_tokens.unwrap() as f64,
            usage.cached_tokens.unwrap_or(0) as f64,
            usage.output_tokens.unwrap() as f64,
        );
        assert!(input > 0.0 && output > 0.0);
        assert!(close(
            usd,
            ((input - cached) * 5.0 + cached * 0.5 + output * 30.0) / 1e6
        ));
        assert!(usage.cost_estimated);
    }

    #[test]
    fn cached_input_is_cheaper_for_codex() {
        let line = r#"{"type":"turn.completed","usage":{"input_tokens":1000000,"cached_input_tokens":800000,"output_tokens":100000,"reasoning_output_tokens":60000}}"#;
        let mut outcome = outcome_of(Format::Codex, line);
        assert_eq!(
            outcome.usage.output_tokens,
            Some(100_000),
            "reasoning is within output"
        );
        outcome.model = Some("gpt-5".into());
        let estimate = Prices::default().estimate(Format::Codex, &outcome);
        assert_eq!(
            estimate,
            Estimate::Cost(0.2 * 1.25 + 0.8 * 0.125 + 0.1 * 10.0)
        );
    }

    #[test]
    fn gemini_is_priced_per_model_it_used() {
        let text = fixture("events/gemini/run1.out");
        let outcome = outcome_of(Format::Gemini, &text);
        // `auto` in init; the stats name the router's model and the main one.
        assert_eq!(outcome.model.as_deref(), Some("gemini-3.8-flash"));
        assert_eq!(outcome.by_model.len(), 2);
        let prices = Prices::default();
        assert_eq!(
            prices.estimate(Format::Gemini, &outcome),
            Estimate::Unpriced(Some("gemini-3.5-flash-lite".into()))
        );
        let configured = Prices {
            configured: BTreeMap::from([
                ("gemini-3.8-flash".to_owned(), p(1.0, 4.0, 0.1)),
                ("gemini-3.5-flash-lite".to_owned(), p(0.1, 0.4, 0.01)),
            ]),
        };
        let Estimate::Cost(usd) = configured.estimate(Format::Gemini, &outcome) else {
            panic!()
        };
        let per = |model: &str, price: Price| {
            let u = &outcome.by_model.iter().find(|(m, _)| m == model).unwrap().1;
            let (f, c, o) = billable(Format::Gemini, u);
            (f as f64 * price.input + c as f64 * price.cached + o as f64 * price.output) / 1e6
        };
        let want = per("gemini-3.8-flash", p(1.0, 4.0, 0.1))
            + per("gemini-3.5-flash-lite", p(0.1, 0.4, 0.01));
        assert!(close(usd, want) && usd > 0.0, "{usd} {want}");
    }

    #[test]
    fn nothing_spent_needs_no_price_and_reported_costs_are_kept() {
        let prices = Prices::default();
        assert_eq!(
            prices.estimate(Format::Codex, &Outcome::default()),
            Estimate::NotNeeded
        );
        let mut outcome = outcome_of(Format::Opencode, &fixture("events/opencode/run1.out"));
        let before = outcome.usage;
        assert!(before.cost_usd.is_some());
        assert_eq!(
            prices.price(Format::Opencode, &mut outcome),
            Estimate::NotNeeded
        );
        assert_eq!(outcome.usage, before);
    }

    #[test]
    fn models_are_found_in_arguments() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(model_in_args(&args(&["-m", "gpt-5"])), Some("gpt-5".into()));
        assert_eq!(
            model_in_args(&args(&["--model=o3", "x"])),
            Some("o3".into())
        );
        assert_eq!(
            model_in_args(&args(&["--model", "a", "-c", "model='b'"])),
            Some("b".into())
        );
        assert_eq!(
            model_in_args(&args(&["-c", "model_provider=x", "prompt"])),
            None
        );
        assert_eq!(model_in_args(&args(&["-m"])), None);
    }

    #[test]
    fn codex_config_names_its_model() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "model = \"gpt-5.5\"\n[profiles.x]\nmodel = \"o3\"\n",
        )
        .unwrap();
        let env = vec![("CODEX_HOME".to_owned(), dir.path().display().to_string())];
        assert_eq!(codex_configured_model(&env), Some("gpt-5.5".into()));
        assert_eq!(
            model_before_run(Format::Codex, &["-m".into(), "gpt-5".into()], &env),
            Some("gpt-5".into())
        );
        assert_eq!(model_before_run(Format::Gemini, &[], &env), None);
    }

    #[test]
    fn prices_parse() {
        assert_eq!(parse_price("1.25"), Ok(1.25));
        assert_eq!(parse_price("$0"), Ok(0.0));
        assert!(parse_price("-1").unwrap_err().contains("negative"));
        assert!(
            parse_price("cheap")
                .unwrap_err()
                .contains("per million tokens")
        );
        assert!(parse_price("inf").is_err());
    }
}
