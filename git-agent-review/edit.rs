//! `review --edit`: the diff opens in the user's editor; comments are written on lines of their
//! own starting with `>>`, right below the diff line they are about.
//!
//! ```text
//! # Review of fix-login. Write comments on lines starting with ">>" below the line they are
//! # about; lines starting with "#" are ignored. Save with no comments to cancel.
//! >> A general comment goes above the first file.
//! diff --git a/src/login.rs b/src/login.rs
//! >> A comment on the whole file goes before its first hunk.
//! @@ -40,6 +40,8 @@ fn login() {
//! +    if password == stored {
//! >> Use a constant-time comparison here.
//! >> Consecutive ">>" lines are one comment.
//! ```
//!
//! A comment below a line refers to that line of the new version (below a removed line: to
//! where it was), and carries the hunk it is in.

use std::path::Path;

use anyhow::Result;
use git_agent::error::Failure;
use git_agent::process::Cmd;
use git_agent::state::rounds::Comment;

/// The text the editor opens: instructions, then the diff.
pub fn buffer(name: &str, diff: &str) -> String {
    format!(
        "# Review of {name}. Write comments on lines starting with \">>\" below the line they are\n\
         # about (above the first file: general; before a file's first hunk: the whole file).\n\
         # Lines starting with \"#\" are ignored. Save with no comments to cancel.\n{diff}"
    )
}

struct Hunk {
    lines: Vec<String>,
}

/// The comments written into an edited buffer.
pub fn parse(buffer: &str) -> Vec<Comment> {
    let mut parser = Parser::default();
    for line in buffer.lines() {
        parser.line(line);
    }
    parser.flush();
    parser.close_hunk();
    parser.comments
}

/// Where [`parse`] is in the buffer.
#[derive(Default)]
struct Parser {
    comments: Vec<Comment>,
    path: Option<String>,
    hunk: Option<Hunk>,
    /// The new-version line the next diff line has.
    next_line: u32,
    /// The line a comment refers to.
    about: Option<u32>,
    /// The `>>` lines of the comment being read.
    pending: Vec<String>,
    /// Comments get the whole hunk they are in: filled in when the hunk ends.
    waiting_for_hunk: Vec<usize>,
}

impl Parser {
    fn line(&mut self, line: &str) {
        if let Some(text) = line.strip_prefix(">>") {
            self.pending
                .push(text.strip_prefix(' ').unwrap_or(text).to_owned());
            return;
        }
        self.flush();
        if line.starts_with('#') {
            return;
        }
        if line.starts_with("diff --git ") {
            self.close_hunk();
            // The path comes from the `+++`/`---` lines; until then take it from this header.
            self.path = line.rsplit_once(" b/").map(|(_, p)| p.to_owned());
            self.about = None;
            return;
        }
        if let Some(p) = line.strip_prefix("+++ ") {
            if let Some(p) = p.strip_prefix("b/") {
                self.path = Some(p.to_owned());
            }
            return;
        }
        if line.starts_with("--- ") && self.hunk.is_none() {
            if self.path.is_none()
                && let Some(p) = line[4..].strip_prefix("a/")
            {
                self.path = Some(p.to_owned());
            }
            return;
        }
        if line.starts_with("@@ ") {
            self.close_hunk();
            self.next_line = crate::diff::new_range(line).map_or(0, |(start, _)| start);
            self.about = Some(self.next_line.max(1));
            self.hunk = Some(Hunk {
                lines: vec![line.to_owned()],
            });
            return;
        }
        if let Some(h) = &mut self.hunk {
            h.lines.push(line.to_owned());
            match line.chars().next() {
                Some('+' | ' ') => {
                    self.about = Some(self.next_line);
                    self.next_line += 1;
                }
                Some('-') => self.about = Some(self.next_line.max(1)),
                _ => {}
            }
        }
    }

    /// Ends the comment being read, if any.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let text = self.pending.join("\n").trim().to_owned();
        self.pending.clear();
        if text.is_empty() {
            return;
        }
        let in_hunk = self.hunk.is_some();
        self.comments.push(Comment {
            path: self.path.clone(),
            line: if in_hunk { self.about } else { None },
            hunk: None,
            text,
        });
        if in_hunk {
            self.waiting_for_hunk.push(self.comments.len() - 1);
        }
    }

    /// Ends the hunk being read: the comments in it get its text.
    fn close_hunk(&mut self) {
        if let Some(h) = self.hunk.take() {
            let text = h.lines.join("\n");
            for i in self.waiting_for_hunk.drain(..) {
                self.comments[i].hunk = Some(text.clone());
            }
        }
    }
}

/// Opens `file` in the user's editor (`git var GIT_EDITOR`: `$GIT_EDITOR`, `core.editor`,
/// `$VISUAL`, `$EDITOR`, then git's default), in the foreground.
pub fn run_editor(dir: &Path, file: &Path) -> Result<()> {
    let editor = git_agent::git::in_dir(dir)
        .args(["var", "GIT_EDITOR"])
        .run()?;
    let editor = editor.trim();
    // Editor settings are command lines ("code --wait"), run through the shell as git does.
    let status = Cmd::new("sh")
        .args(["-c", &format!("{editor} \"$@\""), editor])
        .arg(file)
        .current_dir(dir)
        .status_interactive()?;
    if !status.success() {
        return Err(
            Failure::fatal(format!("the editor '{editor}' failed; nothing was stored")).into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_under_diff_lines() {
        let edited = "\
# instructions
>> general remark
diff --git a/src/a.rs b/src/a.rs
index 1..2 100644
--- a/src/a.rs
+++ b/src/a.rs
>> about the whole file
@@ -1,3 +1,4 @@
 fn a() {
+    let x = 1;
>> why x?
>> and why 1?
     call();
-    old();
>> keep old()
 }
diff --git a/b.txt b/b.txt
--- a/b.txt
+++ b/b.txt
@@ -10,2 +10,2 @@
-x
+y
>> y is wrong
";
        let c = parse(edited);
        assert_eq!(c.len(), 5, "{c:#?}");
        assert_eq!(
            (c[0].path.as_deref(), c[0].line, c[0].text.as_str()),
            (None, None, "general remark")
        );
        assert_eq!((c[1].path.as_deref(), c[1].line), (Some("src/a.rs"), None));
        assert_eq!(
            (c[2].path.as_deref(), c[2].line, c[2].text.as_str()),
            (Some("src/a.rs"), Some(2), "why x?\nand why 1?")
        );
        assert!(c[2].hunk.as_deref().unwrap().starts_with("@@ -1,3 +1,4 @@"));
        assert!(
            c[2].hunk.as_deref().unwrap().contains("-    old();"),
            "the whole hunk"
        );
        assert_eq!(c[3].line, Some(4), "a removed line: where it was");
        assert_eq!((c[4].path.as_deref(), c[4].line), (Some("b.txt"), Some(10)));
        assert!(parse("# nothing\ndiff --git a/x b/x\n").is_empty());
    }
}
