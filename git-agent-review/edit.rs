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
    let mut comments: Vec<Comment> = Vec::new();
    let mut path: Option<String> = None;
    let mut hunk: Option<Hunk> = None;
    // The new-version line the next diff line has, and the one a comment refers to.
    let (mut next_line, mut about): (u32, Option<u32>) = (0, None);
    let mut pending: Vec<String> = Vec::new();
    // Comments get the whole hunk they are in: filled in when the hunk ends.
    let mut waiting_for_hunk: Vec<usize> = Vec::new();
    let flush = |pending: &mut Vec<String>,
                 comments: &mut Vec<Comment>,
                 path: &Option<String>,
                 about: Option<u32>,
                 in_hunk: bool,
                 waiting: &mut Vec<usize>| {
        if pending.is_empty() {
            return;
        }
        let text = pending.join("\n").trim().to_owned();
        pending.clear();
        if text.is_empty() {
            return;
        }
        comments.push(Comment {
            path: path.clone(),
            line: if in_hunk { about } else { None },
            hunk: None,
            text,
        });
        if in_hunk {
            waiting.push(comments.len() - 1);
        }
    };
    let close_hunk =
        |hunk: &mut Option<Hunk>, comments: &mut Vec<Comment>, waiting: &mut Vec<usize>| {
            if let Some(h) = hunk.take() {
                let text = h.lines.join("\n");
                for i in waiting.drain(..) {
                    comments[i].hunk = Some(text.clone());
                }
            }
        };
    for line in buffer.lines() {
        if let Some(text) = line.strip_prefix(">>") {
            pending.push(text.strip_prefix(' ').unwrap_or(text).to_owned());
            continue;
        }
        flush(
            &mut pending,
            &mut comments,
            &path,
            about,
            hunk.is_some(),
            &mut waiting_for_hunk,
        );
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with("diff --git ") {
            close_hunk(&mut hunk, &mut comments, &mut waiting_for_hunk);
            // The path comes from the `+++`/`---` lines; until then take it from this header.
            path = line.rsplit_once(" b/").map(|(_, p)| p.to_owned());
            about = None;
            continue;
        }
        if let Some(p) = line.strip_prefix("+++ ") {
            if let Some(p) = p.strip_prefix("b/") {
                path = Some(p.to_owned());
            }
            continue;
        }
        if line.starts_with("--- ") && hunk.is_none() {
            if path.is_none()
                && let Some(p) = line[4..].strip_prefix("a/")
            {
                path = Some(p.to_owned());
            }
            continue;
        }
        if line.starts_with("@@ ") {
            close_hunk(&mut hunk, &mut comments, &mut waiting_for_hunk);
            next_line = crate::diff::new_range(line).map_or(0, |(start, _)| start);
            about = Some(next_line.max(1));
            hunk = Some(Hunk {
                lines: vec![line.to_owned()],
            });
            continue;
        }
        if let Some(h) = &mut hunk {
            h.lines.push(line.to_owned());
            match line.chars().next() {
                Some('+' | ' ') => {
                    about = Some(next_line);
                    next_line += 1;
                }
                Some('-') => about = Some(next_line.max(1)),
                _ => {}
            }
        }
    }
    flush(
        &mut pending,
        &mut comments,
        &path,
        about,
        hunk.is_some(),
        &mut waiting_for_hunk,
    );
    close_hunk(&mut hunk, &mut comments, &mut waiting_for_hunk);
    comments
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
