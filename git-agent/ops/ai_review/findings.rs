//! A reviewer's answer read as findings: one per line `PATH:LINE: TEXT` (PATH relative to the
//! repository root, LINE in the new version), general remarks on the other lines.
//!
//! Tolerant of how agents actually write it: a bullet (`- `, `* `) before the line, backticks
//! around the path or the location, a column (`PATH:LINE:COL:`), `./` before the path. A
//! finding whose path is not a file of the reviewed diff is kept, as a general remark, in the
//! reviewer's words: nothing it said is dropped.

/// One finding on a line of a changed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    pub line: u32,
    pub text: String,
}

/// What an answer holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub findings: Vec<Finding>,
    /// The other non-empty lines, in order.
    pub general: Vec<String>,
    /// The reviewer said there is nothing to change ([`NOTHING`]).
    pub nothing: bool,
}

impl Parsed {
    /// Nothing to report and not the answer that says so either.
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty() && self.general.is_empty() && !self.nothing
    }
}

/// The answer of a reviewer that finds nothing to change.
pub const NOTHING: &str = "No findings.";

/// Reads `answer`; `files` are the paths of the reviewed diff.
pub fn parse(answer: &str, files: &[String]) -> Parsed {
    let mut parsed = Parsed::default();
    let trimmed = answer.trim();
    if trimmed
        .trim_end_matches('.')
        .eq_ignore_ascii_case(NOTHING.trim_end_matches('.'))
    {
        parsed.nothing = true;
        return parsed;
    }
    for line in trimmed.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        match finding(line) {
            Some(f) if files.contains(&f.path) => parsed.findings.push(f),
            _ => parsed.general.push(line.to_owned()),
        }
    }
    parsed
}

/// `PATH:LINE: TEXT` (or with a column, a bullet, backticks) as a finding.
fn finding(line: &str) -> Option<Finding> {
    let mut rest = line.trim_start();
    for bullet in ["- ", "* ", "• "] {
        if let Some(r) = rest.strip_prefix(bullet) {
            rest = r.trim_start();
            break;
        }
    }
    // The first `: ` (or a `:` ending the line) whose left side reads as a location.
    let mut from = 0;
    while let Some(at) = rest[from..].find(':').map(|i| i + from) {
        let after = &rest[at + 1..];
        if (after.is_empty() || after.starts_with(' '))
            && let Some((path, line)) = location(&rest[..at])
        {
            let text = after.trim();
            return (!text.is_empty()).then(|| Finding {
                path,
                line,
                text: text.to_owned(),
            });
        }
        from = at + 1;
    }
    None
}

/// `PATH:LINE` or `PATH:LINE:COL`, backticks or `**` around any of it ignored.
fn location(text: &str) -> Option<(String, u32)> {
    let clean: String = text.chars().filter(|c| *c != '`' && *c != '*').collect();
    let mut parts: Vec<&str> = clean.trim().rsplitn(3, ':').collect();
    parts.reverse();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (path, line) = match parts.as_slice() {
        [path, line, col] if numeric(line) && numeric(col) => (*path, *line),
        [a, path, line] if numeric(line) => return joined(&format!("{a}:{path}"), line),
        [path, line] if numeric(line) => (*path, *line),
        _ => return None,
    };
    joined(path, line)
}

fn joined(path: &str, line: &str) -> Option<(String, u32)> {
    let path = path.trim().trim_start_matches("./");
    let line: u32 = line.parse().ok()?;
    (!path.is_empty() && !path.contains(char::is_whitespace) && line > 0)
        .then(|| (path.to_owned(), line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<String> {
        vec!["src/a.txt".into(), "b.rs".into()]
    }

    #[test]
    fn findings_and_remarks() {
        let answer = "src/a.txt:2: use a constant\n\n- `b.rs`:10:5: off by one\n\
                      * `src/a.txt:7`: unclear: why?\n./b.rs:3: trailing space\n\
                      other.rs:4: not in the diff\nOverall fine, add a test.";
        let parsed = parse(answer, &files());
        let got: Vec<(&str, u32, &str)> = parsed
            .findings
            .iter()
            .map(|f| (f.path.as_str(), f.line, f.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("src/a.txt", 2, "use a constant"),
                ("b.rs", 10, "off by one"),
                ("src/a.txt", 7, "unclear: why?"),
                ("b.rs", 3, "trailing space"),
            ]
        );
        assert_eq!(
            parsed.general,
            ["other.rs:4: not in the diff", "Overall fine, add a test."]
        );
        assert!(!parsed.nothing);
    }

    #[test]
    fn nothing_and_empty() {
        assert!(parse("No findings.", &files()).nothing);
        assert!(parse("  no findings\n", &files()).nothing);
        assert!(parse("\n  \n", &files()).is_empty());
        let odd = parse("src/a.txt:0: zero\nsrc/a.txt:x: not a line", &files());
        assert!(odd.findings.is_empty());
        assert_eq!(odd.general.len(), 2);
    }
}
