//! Session names: generated from the prompt, validated, and safe as branch names and as
//! directory names (invariant 7: a name can never escape the worktrees directory).

use anyhow::Result;

use crate::error::Failure;

/// Longest name we accept (it becomes a directory and part of a branch name).
pub const MAX_LEN: usize = 64;

/// Words that carry no meaning in a slug.
const FILLER: &[&str] = &[
    "a", "an", "the", "to", "of", "and", "or", "in", "on", "for", "please", "with", "that", "this",
    "it", "is", "be",
];

/// A short slug of the task: the first three meaningful words, lowercase ASCII, joined by `-`.
/// "Fix the flaky login test" becomes `fix-flaky-login`.
pub fn slugify(prompt: &str) -> String {
    let words: Vec<String> = prompt
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let meaningful: Vec<&String> = words
        .iter()
        .filter(|w| !FILLER.contains(&w.as_str()))
        .collect();
    let chosen: Vec<&str> = if meaningful.is_empty() {
        words.iter().take(3).map(String::as_str).collect()
    } else {
        meaningful.iter().take(3).map(|w| w.as_str()).collect()
    };
    let mut slug = chosen.join("-");
    slug.truncate(32);
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "task".to_owned()
    } else {
        slug
    }
}

/// Checks that `name` is usable as a session name, directory name and branch component.
/// Every command checks each NAME it is given with this (at the command line, see
/// [`crate::cli::session_name`], and again where the state directory is used), so a name can
/// never reach a path outside `sessions/`.
pub fn validate(name: &str) -> Result<()> {
    check(name).map_err(anyhow::Error::from)
}

/// [`validate`], with the [`Failure`] itself as the error (what clap's value parsers take).
pub fn check(name: &str) -> std::result::Result<(), Failure> {
    let bad = |why: &str| -> Failure {
        Failure::usage(format!("invalid session name '{name}': {why}"))
            .hint("names use letters, digits, '.', '_' and '-', and start with a letter or digit")
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_LEN {
        return Err(bad(&format!("it is longer than {MAX_LEN} characters")));
    }
    if name.starts_with('-') {
        return Err(bad("it starts with '-'"));
    }
    if name.starts_with('.') {
        return Err(bad("it starts with '.'"));
    }
    if name.contains("..") {
        return Err(bad("it contains '..'"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        let what = match c {
            '/' | '\\' => "it contains a path separator".to_owned(),
            c if c.is_whitespace() => "it contains whitespace".to_owned(),
            c => format!("it contains '{c}'"),
        };
        return Err(bad(&what));
    }
    if name.ends_with('.') || name.ends_with(".lock") {
        return Err(bad("it ends with '.' or '.lock'"));
    }
    // `<name>.json` is the record and `<name>/` the session's folder: a name ending in
    // `.json` would make another session's record path a folder (any case: some file
    // systems ignore it).
    if name.to_ascii_lowercase().ends_with(".json") {
        return Err(bad("it ends with '.json'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("fix the flaky login test"), "fix-flaky-login");
        assert_eq!(slugify("Add --verbose flag to CLI!"), "add-verbose-flag");
        assert_eq!(slugify("¿qué?"), "qu");
        assert_eq!(slugify("日本語"), "task");
        assert_eq!(slugify("the a an"), "the-a-an");
        assert!(slugify(&"word".repeat(40)).len() <= 32);
    }

    #[test]
    fn validation() {
        for ok in ["fix-login", "a", "v1.2", "x_y", "fix-login-2"] {
            validate(ok).unwrap();
        }
        for bad in [
            "",
            "-x",
            ".x",
            "a..b",
            "a/b",
            "a\\b",
            "a b",
            "x.lock",
            "x.",
            "a:b",
            "a~b",
            "a^b",
            "a*b",
            "v1.json",
            "v1.JSON",
            "../../../package",
        ] {
            assert!(validate(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(validate(&"x".repeat(65)).is_err());
    }
}
