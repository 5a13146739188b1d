//! The `touches` globs of a plan's tasks: what a glob owns, and whether two globs may own a
//! common path. Used by the plan's scheduling (`ops::plan::graph`: tasks whose globs overlap
//! never run together) and by each task's supervisor (`supervisor::ownership`: which task
//! owns a path an agent edited), so it sits at the bottom of the library, importing nothing
//! of it.
//!
//! Globs follow git's wildmatch with `*` stopping at `/` and `**` crossing directories; a
//! pattern naming a directory (`src/search` or `src/search/`) also owns what is below it.
//!
//! The overlap rule (conservative where it cannot know, since new files are allowed): two
//! globs overlap when they are equal, when one matches the other's literal prefix (the text
//! before its first `*`, `?`, `[` or `\`; for a glob without any, the whole path), or when a
//! file of the base commit matches both. So `src/search/**` overlaps `src/search/index/*.rs`
//! and `src/search/mod.rs`, while `src/*.rs` and `src/*.md` do not.
//!
//! Pure functions of their arguments: no files, no git.

use gix::bstr::ByteSlice;
use gix::glob::wildmatch::Mode;

/// Whether two globs may own a common path (the rule in the module docs). `files`: the paths
/// of the base commit.
pub fn globs_overlap(a: &str, b: &str, files: &[String]) -> bool {
    a == b
        || matches(a, literal_prefix(b))
        || matches(b, literal_prefix(a))
        || files.iter().any(|f| matches(a, f) && matches(b, f))
}

/// Whether `glob` matches `path` (git's wildmatch, `*` does not cross `/`). A pattern naming a
/// directory (`src/search` or `src/search/`) also owns what is below it.
pub fn matches(glob: &str, path: &str) -> bool {
    let mode = Mode::NO_MATCH_SLASH_LITERAL;
    let glob = glob.trim_end_matches('/');
    gix::glob::wildmatch(glob.as_bytes().as_bstr(), path.as_bytes().as_bstr(), mode)
        || gix::glob::wildmatch(
            format!("{glob}/**").as_bytes().as_bstr(),
            path.as_bytes().as_bstr(),
            mode,
        )
}

/// Whether any of `globs` matches `path`.
pub fn any_matches(globs: &[String], path: &str) -> bool {
    globs.iter().any(|g| matches(g, path))
}

/// The text of `glob` before its first special character.
pub fn literal_prefix(glob: &str) -> &str {
    let end = glob.find(['*', '?', '[', '\\']).unwrap_or(glob.len());
    &glob[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_glob_owns() {
        assert!(matches("src/b/**", "src/b/x.rs"));
        assert!(matches("src/b/**", "src/b/deep/x.rs"));
        assert!(matches("src/b", "src/b/x.rs"));
        assert!(matches("src/b/", "src/b/x.rs"));
        assert!(matches("src/*.rs", "src/lib.rs"));
        assert!(!matches("src/*.rs", "src/sub/lib.rs"));
        assert!(!matches("src/b/**", "src/bb/x.rs"));
        assert!(!matches("src/a/**", "notes.txt"));
        assert!(any_matches(&["x".into(), "src/**".into()], "src/a.rs"));
        assert!(!any_matches(&[], "src/a.rs"));
        assert_eq!(literal_prefix("src/a/*.rs"), "src/a/");
        assert_eq!(literal_prefix("README.md"), "README.md");
    }
}
