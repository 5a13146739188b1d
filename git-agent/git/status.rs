//! `git status --porcelain=v2 -z`: one parser, one entry type.
//!
//! Owns the porcelain-v2 format (git-status(1), "Porcelain Format Version 2"):
//! - `1 XY sub mH mI mW hH hI path`: a changed tracked path;
//! - `2 XY sub mH mI mW hH hI Xscore path` NUL `origPath`: renamed or copied;
//! - `u XY sub m1 m2 m3 mW h1 h2 h3 path`: unmerged;
//! - `? path`, `! path`: untracked, ignored;
//! - `# …`: headers (with `--branch`), skipped.
//!
//! With `-z` paths are neither quoted nor escaped: a path may hold spaces, newlines, anything
//! but NUL, so a path is everything after the fixed number of space-separated fields.
//! Must not touch: running git, sessions, what callers show to the user.

/// One entry of `git status --porcelain=v2 -z`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusEntry {
    /// `1 …`: a tracked path changed in the index or the worktree.
    Ordinary { xy: String, path: String },
    /// `2 …`: renamed or copied (`score` is `R100`, `C75`…) from `from` to `path`.
    Renamed {
        xy: String,
        score: String,
        path: String,
        from: String,
    },
    /// `u …`: unmerged (a conflict not yet resolved).
    Unmerged { xy: String, path: String },
    /// `? …`: untracked (a directory, when git shows it collapsed, ends in `/`).
    Untracked { path: String },
    /// `! …`: ignored (only with `--ignored`).
    Ignored { path: String },
}

impl StatusEntry {
    /// The two status letters, as short status shows them (`??` untracked, `!!` ignored).
    pub fn xy(&self) -> &str {
        match self {
            Self::Ordinary { xy, .. } | Self::Renamed { xy, .. } | Self::Unmerged { xy, .. } => xy,
            Self::Untracked { .. } => "??",
            Self::Ignored { .. } => "!!",
        }
    }

    /// The path the entry is about (for a rename, the new one).
    pub fn path(&self) -> &str {
        match self {
            Self::Ordinary { path, .. }
            | Self::Renamed { path, .. }
            | Self::Unmerged { path, .. }
            | Self::Untracked { path }
            | Self::Ignored { path } => path,
        }
    }

    /// Every path the entry names: both for a rename or copy.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        let from = match self {
            Self::Renamed { from, .. } => Some(from.as_str()),
            _ => None,
        };
        std::iter::once(self.path()).chain(from)
    }

    pub fn is_unmerged(&self) -> bool {
        matches!(self, Self::Unmerged { .. })
    }

    pub fn is_ignored(&self) -> bool {
        matches!(self, Self::Ignored { .. })
    }
}

/// Parses `git status --porcelain=v2 -z` output. Headers and entries of a kind git does not
/// document are skipped, as are entries with too few fields (git never writes them).
pub fn parse(out: &str) -> Vec<StatusEntry> {
    let mut entries = Vec::new();
    let mut fields = out.split('\0');
    while let Some(entry) = fields.next() {
        let Some((kind, rest)) = entry.split_once(' ') else {
            continue;
        };
        // `rest` split into `n` fixed fields and the path (which may hold spaces).
        let split = |n: usize| -> Option<Vec<&str>> {
            let parts: Vec<&str> = rest.splitn(n + 1, ' ').collect();
            (parts.len() == n + 1).then_some(parts)
        };
        let parsed = match kind {
            "1" => split(7).map(|p| StatusEntry::Ordinary {
                xy: p[0].to_owned(),
                path: p[7].to_owned(),
            }),
            "2" => {
                // The original path is always there, in the next NUL-terminated field.
                let from = fields.next().unwrap_or_default();
                split(8).map(|p| StatusEntry::Renamed {
                    xy: p[0].to_owned(),
                    score: p[7].to_owned(),
                    path: p[8].to_owned(),
                    from: from.to_owned(),
                })
            }
            "u" => split(9).map(|p| StatusEntry::Unmerged {
                xy: p[0].to_owned(),
                path: p[9].to_owned(),
            }),
            "?" => Some(StatusEntry::Untracked {
                path: rest.to_owned(),
            }),
            "!" => Some(StatusEntry::Ignored {
                path: rest.to_owned(),
            }),
            _ => None,
        };
        entries.extend(parsed);
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordinary(xy: &str, path: &str) -> StatusEntry {
        StatusEntry::Ordinary {
            xy: xy.into(),
            path: path.into(),
        }
    }

    #[test]
    fn every_kind_of_entry() {
        let out = "# branch.oid abc\0\
                   1 .M N... 100644 100644 100644 aaa bbb src/a.rs\0\
                   2 R. N... 100644 100644 100644 aaa bbb R100 new name.rs\0old name.rs\0\
                   2 C. N... 100644 100644 100644 aaa bbb C75 copy.rs\0orig.rs\0\
                   u UU N... 100644 100644 100644 100644 aaa bbb ccc both.rs\0\
                   ? notes/new file.txt\0\
                   ? nested/\0\
                   ! target/\0";
        assert_eq!(
            parse(out),
            [
                ordinary(".M", "src/a.rs"),
                StatusEntry::Renamed {
                    xy: "R.".into(),
                    score: "R100".into(),
                    path: "new name.rs".into(),
                    from: "old name.rs".into(),
                },
                StatusEntry::Renamed {
                    xy: "C.".into(),
                    score: "C75".into(),
                    path: "copy.rs".into(),
                    from: "orig.rs".into(),
                },
                StatusEntry::Unmerged {
                    xy: "UU".into(),
                    path: "both.rs".into(),
                },
                StatusEntry::Untracked {
                    path: "notes/new file.txt".into(),
                },
                StatusEntry::Untracked {
                    path: "nested/".into(),
                },
                StatusEntry::Ignored {
                    path: "target/".into(),
                },
            ]
        );
        assert_eq!(parse(""), []);
    }

    #[test]
    fn paths_keep_spaces_newlines_and_look_alike_fields() {
        // With -z nothing is quoted: a path is the rest of the entry, whatever it holds.
        let out = "1 M. N... 100644 100644 100644 aaa bbb a b/c  d\ne\0\
                   2 R. N... 100644 100644 100644 aaa bbb R90 to\nthere\0from here \0\
                   u AA N... 000000 100644 100644 100644 000 bbb ccc 1 .M x\0\
                   ? ? odd\0";
        let entries = parse(out);
        assert_eq!(entries[0], ordinary("M.", "a b/c  d\ne"));
        assert_eq!(
            entries[1].paths().collect::<Vec<_>>(),
            ["to\nthere", "from here "]
        );
        assert_eq!(entries[1].xy(), "R.");
        assert!(entries[2].is_unmerged());
        assert_eq!(entries[2].path(), "1 .M x");
        assert_eq!(entries[3].path(), "? odd");
        assert_eq!(entries[3].xy(), "??");
        assert_eq!(entries.len(), 4);
    }

    #[test]
    fn malformed_entries_are_skipped_and_a_rename_keeps_its_pair() {
        let out = "1 .M short\0\
                   2 R. too few\0orig\0\
                   ? kept\0\
                   x unknown kind\0\
                   noSpace\0";
        assert_eq!(
            parse(out),
            [StatusEntry::Untracked {
                path: "kept".into()
            }]
        );
    }
}
