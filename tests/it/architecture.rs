//! Data flows one way: binaries → cli → commands → library (ops, model, git, process). The
//! compiler cannot keep a module of one crate from importing another, so this test reads the
//! sources: nothing in the library below `commands/` and `cli/` names those modules (nor `ui`,
//! the terminal's rendering: the library returns data, the terminal layer renders it), and the
//! suite's other binaries use of `git_agent::commands` only the terminal context (`Ctx`,
//! `Format`, `JSON_VERSION`), never a command's functions (they call `git_agent::ops`).
//!
//! Comments and string literals are left out of the scan: only code counts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What the other binaries may take from `git_agent::commands`.
const TERMINAL: &[&str] = &["Ctx", "Format", "JSON_VERSION"];

#[test]
fn nothing_below_commands_imports_commands_or_cli() {
    let violations = library_lines(&[], upward_in_library);
    assert!(
        violations.is_empty(),
        "the library reaches up into commands/ or cli/ (move the logic down into \
         git-agent/ops/, or pass what it needs in):\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn nothing_below_commands_imports_ui() {
    let violations = library_lines(&["ui.rs"], |tokens| naming(tokens, &["ui"]));
    assert!(
        violations.is_empty(),
        "the library renders for the terminal (return the data; let commands/ render it \
         with ui):\n  {}",
        violations.join("\n  ")
    );
}

/// `git-agent/FILE:LINE` of every line `find` reports in the library below `commands/` and
/// `cli/` (leaving out `lib.rs`, `main.rs` and the files in `skip`).
fn library_lines(skip: &[&str], find: impl Fn(&[Token]) -> Vec<usize>) -> Vec<String> {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("git-agent");
    let mut found = Vec::new();
    for file in rust_files(&lib) {
        let rel = file.strip_prefix(&lib).unwrap();
        if rel.starts_with("commands")
            || rel.starts_with("cli")
            || ["lib.rs", "main.rs"]
                .iter()
                .chain(skip)
                .any(|f| rel == Path::new(f))
        {
            continue;
        }
        let tokens = tokens(&std::fs::read_to_string(&file).unwrap());
        for line in find(&tokens) {
            found.push(format!("git-agent/{}:{line}", rel.display()));
        }
    }
    found
}

#[test]
fn other_binaries_use_only_the_terminal_context_of_commands() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut violations = Vec::new();
    for dir in ["git-agent-review", "git-agent-merge"] {
        for file in rust_files(&root.join(dir)) {
            let tokens = tokens(&std::fs::read_to_string(&file).unwrap());
            for line in command_functions_in_binary(&tokens) {
                let rel = file.strip_prefix(root).unwrap();
                violations.push(format!("{}:{line}", rel.display()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "a binary calls into git_agent::commands beyond {TERMINAL:?} (call git_agent::ops):\n  {}",
        violations.join("\n  ")
    );
}

/// The checks catch what they are meant to catch (a check that cannot fail proves nothing).
#[test]
fn the_checks_see_upward_imports() {
    let bad_lib = [
        "use crate::commands::Ctx;",
        "fn f() { crate::commands::stop::stop_session(); }",
        "use crate::{cli, state};",
        "use crate::{commands::trust, state};",
        "fn f() { super::super::commands::send::deliver(); }",
        "use crate::commands;",
    ];
    for src in bad_lib {
        assert!(
            !upward_in_library(&tokens(src)).is_empty(),
            "not seen: {src}"
        );
    }
    for src in [
        "use crate::{supervisor, ui, worktree};",
        "fn f() -> String { crate::ui::bold(\"x\") }",
        "fn f() -> String { ui::dim(\"x\") }",
    ] {
        assert!(!naming(&tokens(src), &["ui"]).is_empty(), "not seen: {src}");
    }
    assert!(
        naming(
            &tokens("fn f(ui: &str) -> bool { ui == \"color.ui\" } // ui::x"),
            &["ui"]
        )
        .is_empty()
    );
    let fine_lib = [
        "// see crate::commands::stop\nfn f(commands: &[u8]) {}",
        "const S: &str = \"crate::cli::x\"; fn g() { let c = '\"'; super::x(); }",
        "fn f<'a>(x: &'a str) -> &'a str { x } // commands::x",
    ];
    for src in fine_lib {
        assert!(
            upward_in_library(&tokens(src)).is_empty(),
            "false alarm: {src}"
        );
    }
    let bad_bin = [
        "use git_agent::commands::send;",
        "fn f() { git_agent::commands::help::find_plugin(\"x\"); }",
        "use git_agent::commands::{Ctx, send};",
        "use git_agent::commands;",
        "use git_agent::{commands::send, ops};",
    ];
    for src in bad_bin {
        assert!(
            !command_functions_in_binary(&tokens(src)).is_empty(),
            "not seen: {src}"
        );
    }
    let fine_bin = [
        "use git_agent::commands::Ctx;",
        "use git_agent::commands::{Ctx, JSON_VERSION};",
        "use git_agent::cli::review::Cli; fn f() { crate::cli::report(); let commands = 1; }",
    ];
    for src in fine_bin {
        assert!(
            command_functions_in_binary(&tokens(src)).is_empty(),
            "false alarm: {src}"
        );
    }
}

/// The library's top-level modules (`git`, `state`, `session`, `agents`, `ops`…) import each
/// other in one direction only: the graph of `crate::…` paths between them has no cycle.
/// (Files inside one folder may use each other both ways: a folder is one concern.)
#[test]
fn the_librarys_modules_import_each_other_without_a_cycle() {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("git-agent");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&lib) {
        let rel = file.strip_prefix(&lib).unwrap();
        let module = top_level_module(rel);
        if ["commands", "cli", "main", "lib"].contains(&module.as_str()) {
            continue;
        }
        let tokens = tokens(&std::fs::read_to_string(&file).unwrap());
        let used = graph.entry(module.clone()).or_default();
        used.extend(crate_paths(&tokens).into_iter().filter(|m| *m != module));
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "an import cycle among the library's modules: {} (move what both need down a \
             layer: README, \"Architecture\")",
            cycle.join(" → ")
        );
    }
}

/// The cycle check sees cycles, and only cycles.
#[test]
fn the_cycle_check_sees_cycles() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry((*a).into()).or_default().insert((*b).into());
            g.entry((*b).into()).or_default();
        }
        g
    };
    let cycle = find_cycle(&graph(&[
        ("ops", "git"),
        ("git", "state"),
        ("state", "ops"),
    ]));
    assert_eq!(cycle.unwrap(), ["git", "state", "ops", "git"]);
    assert!(
        find_cycle(&graph(&[
            ("ops", "git"),
            ("ops", "state"),
            ("git", "state")
        ]))
        .is_none()
    );
    let used = crate_paths(&tokens(
        "use crate::{git::repo::Repo, state};\nfn f() { crate::ops::stop(); }\n\
         #[cfg(test)]\nmod tests { use crate::commands::x; }",
    ));
    assert_eq!(
        used,
        BTreeSet::from(["git".into(), "ops".into(), "state".into()])
    );
}

/// No product source file over 600 lines, no function over 120 (tests are not product code).
#[test]
fn no_product_file_over_600_lines_and_no_function_over_120() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for dir in ["git-agent", "git-agent-review", "git-agent-merge"] {
        for file in rust_files(&root.join(dir)) {
            let src = std::fs::read_to_string(&file).unwrap();
            let rel = file.strip_prefix(root).unwrap().display().to_string();
            let lines = src.lines().count();
            if lines > 600 {
                problems.push(format!("{rel}: {lines} lines"));
            }
            for (name, line, length) in function_lengths(&tokens(&src)) {
                if length > 120 {
                    problems.push(format!("{rel}:{line}: fn {name} is {length} lines"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "split these into the steps they consist of:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn function_lengths_are_measured_from_fn_to_its_closing_brace() {
    let src = "trait T { fn decl(&self); }\nfn a() {\n    let s = \"}\";\n    if x { y }\n}\n\
               impl X {\n    pub fn b(&self) -> u8 { 1 }\n}\n";
    assert_eq!(
        function_lengths(&tokens(src)),
        [("a".to_owned(), 2, 4), ("b".to_owned(), 7, 1)]
    );
}

/// `git/repo.rs` → `git`, `ui.rs` → `ui`.
fn top_level_module(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The top-level modules a file names as `crate::x…` or in `crate::{x…, y…}`, up to its
/// unit tests (`#[cfg(test)] mod`).
fn crate_paths(tokens: &[Token]) -> BTreeSet<String> {
    let text = |i: usize| tokens.get(i).map_or("", |t| t.text.as_str());
    let mut used = BTreeSet::new();
    for i in 0..tokens.len() {
        if (i..i + 8)
            .map(text)
            .eq(["#", "[", "cfg", "(", "test", ")", "]", "mod"])
        {
            break;
        }
        if text(i) != "crate" || text(i + 1) != "::" {
            continue;
        }
        if text(i + 2) != "{" {
            used.insert(text(i + 2).to_owned());
            continue;
        }
        // The first name of every item at the group's own depth.
        let (mut depth, mut j, mut item_start) = (1, i + 3, true);
        while depth > 0 && j < tokens.len() {
            match text(j) {
                "{" => depth += 1,
                "}" => depth -= 1,
                "," if depth == 1 => item_start = true,
                name if item_start && depth == 1 => {
                    used.insert(name.to_owned());
                    item_start = false;
                }
                _ => {}
            }
            j += 1;
        }
    }
    used.retain(|m| m != "self" && m != "super");
    used
}

/// A cycle in `graph`, as the path that closes it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if graph.contains_key(next)
                && let Some(cycle) = visit(next, graph, path, done)
            {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

/// Every function with a body: its name, the line of `fn`, and its length in lines.
fn function_lengths(tokens: &[Token]) -> Vec<(String, usize, usize)> {
    let mut found = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if t.text != "fn" || tokens.get(i + 1).is_none_or(|n| n.text == "(") {
            continue;
        }
        // The body opens at the first `{` outside parentheses; a `;` first means no body.
        let mut parens = 0i32;
        let mut open = None;
        for (j, u) in tokens.iter().enumerate().skip(i + 2) {
            match u.text.as_str() {
                "(" | "[" => parens += 1,
                ")" | "]" => parens -= 1,
                ";" if parens == 0 => break,
                "{" if parens == 0 => {
                    open = Some(j);
                    break;
                }
                _ => {}
            }
        }
        let Some(open) = open else { continue };
        let mut depth = 0;
        for u in &tokens[open..] {
            match u.text.as_str() {
                "{" => depth += 1,
                "}" => {
                    depth -= 1;
                    if depth == 0 {
                        found.push((tokens[i + 1].text.clone(), t.line, u.line - t.line + 1));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// Lines where library code names `commands` or `cli` as a path segment or in a `use`.
fn upward_in_library(tokens: &[Token]) -> Vec<usize> {
    naming(tokens, &["commands", "cli"])
}

/// Lines where code names one of `modules` as a path segment or in a `use`.
fn naming(tokens: &[Token], modules: &[&str]) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut in_use = false;
    for (i, t) in tokens.iter().enumerate() {
        match t.text.as_str() {
            "use" => in_use = true,
            ";" => in_use = false,
            name if modules.contains(&name) => {
                let before = i > 0 && tokens[i - 1].text == "::";
                let after = tokens.get(i + 1).is_some_and(|n| n.text == "::");
                if in_use || before || after {
                    lines.push(t.line);
                }
            }
            _ => {}
        }
    }
    lines
}

/// Lines where a binary uses anything of `git_agent::commands` but the terminal context.
fn command_functions_in_binary(tokens: &[Token]) -> Vec<usize> {
    let text = |i: usize| tokens.get(i).map_or("", |t| t.text.as_str());
    let mut lines = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if t.text != "git_agent" || text(i + 1) != "::" {
            continue;
        }
        match text(i + 2) {
            "commands" => {
                let allowed = match (text(i + 3), text(i + 4)) {
                    ("::", "{") => {
                        let end = (i + 5..tokens.len())
                            .find(|&j| text(j) == "}")
                            .unwrap_or(tokens.len());
                        (i + 5..end).all(|j| text(j) == "," || TERMINAL.contains(&text(j)))
                    }
                    ("::", item) => TERMINAL.contains(&item) && text(i + 5) != "::",
                    _ => false,
                };
                if !allowed {
                    lines.push(t.line);
                }
            }
            "{" => {
                let end = (i + 3..tokens.len())
                    .find(|&j| text(j) == "}")
                    .unwrap_or(tokens.len());
                if (i + 3..end).any(|j| text(j) == "commands") {
                    lines.push(t.line);
                }
            }
            _ => {}
        }
    }
    lines
}

struct Token {
    text: String,
    line: usize,
}

/// Identifiers, `::` and single punctuation of Rust source, without comments, string and
/// char literals (lifetimes are not char literals).
fn tokens(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |j: usize| chars.get(j).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                match (at(i), at(i + 1)) {
                    ('\0', _) => break,
                    ('/', '*') => (depth, i) = (depth + 1, i + 2),
                    ('*', '/') => {
                        (depth, i) = (depth - 1, i + 2);
                        if depth == 0 {
                            break;
                        }
                    }
                    (ch, _) => {
                        line += usize::from(ch == '\n');
                        i += 1;
                    }
                }
            }
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            i += if c == 'b' { 2 } else { 1 };
            while i < chars.len() && chars[i] != '"' {
                line += usize::from(chars[i] == '\n');
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r'))
            && matches!(at(i + 1 + usize::from(c == 'b')), '"' | '#')
            && {
                let mut j = i + 1 + usize::from(c == 'b');
                while at(j) == '#' {
                    j += 1;
                }
                at(j) == '"'
            }
        {
            i += 1 + usize::from(c == 'b');
            let mut hashes = 0;
            while at(i) == '#' {
                hashes += 1;
                i += 1;
            }
            i += 1;
            let closes = |j: usize| at(j) == '"' && (1..=hashes).all(|k| at(j + k) == '#');
            while i < chars.len() && !closes(i) {
                line += usize::from(chars[i] == '\n');
                i += 1;
            }
            i += 1 + hashes;
        } else if c == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A char literal ('x', '\n', '\''); otherwise a lifetime.
            i += 1;
            if at(i) == '\\' {
                i += 2;
            } else {
                i += 1;
            }
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            out.push(Token {
                text: chars[start..i].iter().collect(),
                line,
            });
        } else if c == ':' && at(i + 1) == ':' {
            out.push(Token {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

/// Where `git` may be started by name: the git layer (and the process wrapper it builds on),
/// and `git agent …` run as the user typed it (our own command through git's dispatcher, with
/// the user's environment: not a git command of ours). `clippy.toml` makes the raw constructor
/// `Cmd::git` a lint error outside the git layer; this catches `Cmd::new("git")`, which clippy
/// cannot tell from any other program.
const GIT_BY_NAME: &[&str] = &["git-agent/process.rs", "git-agent-review/interactive.rs"];

#[test]
fn git_runs_only_through_the_git_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut violations = Vec::new();
    for dir in ["git-agent", "git-agent-review", "git-agent-merge"] {
        for file in rust_files(&root.join(dir)) {
            let rel = file.strip_prefix(root).unwrap();
            if rel.starts_with("git-agent/git") || GIT_BY_NAME.iter().any(|a| rel == Path::new(a)) {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                if code.replace(' ', "").contains("Cmd::new(\"git\")") {
                    violations.push(format!("{}:{}", rel.display(), i + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "git started outside the git layer (use git_agent::git::{{command, in_dir, in_repo}}, \
         WorktreeDir or Repo::git):\n  {}",
        violations.join("\n  ")
    );
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}
