//! The task graph of a plan: cycles (named with their path), waves (a task's depth in the
//! dependency graph: wave 1 has no dependencies) and, within a wave, the pairs of tasks whose
//! `touches` overlap and so cannot run at the same time.
//!
//! The overlap rule and what a glob matches live in [`crate::globs`] (the supervisor's live
//! ownership check uses them too, and must not reach up into `ops`); in short, two globs
//! overlap when they may own a common path, so `src/search/**` overlaps
//! `src/search/index/*.rs`, while `src/*.rs` and `src/*.md` do not.

use std::collections::{BTreeMap, HashMap};

pub use crate::globs::{globs_overlap, matches};

/// A task as the graph sees it.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub id: &'a str,
    pub depends_on: &'a [String],
    pub touches: &'a [String],
}

/// A wave: tasks at the same depth, with the pairs among them that must not run together.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Wave {
    /// 1 for the tasks without dependencies.
    pub number: usize,
    pub tasks: Vec<String>,
    pub serialized: Vec<Serialized>,
}

/// Two tasks of a wave that run one after the other, and the globs that overlap.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Serialized {
    pub first: String,
    pub second: String,
    /// One overlapping pair of globs: (from `first`, from `second`).
    pub because: (String, String),
}

/// The first cycle found (tasks in file order), as the path `a, b, c, a`: each depends on the
/// next. Dependencies on unknown ids are ignored here (reported on their own).
pub fn find_cycle(nodes: &[Node<'_>]) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let mut marks = vec![Mark::New; nodes.len()];
    // Iterative DFS: (node, next dependency to look at); `path` mirrors the stack.
    for start in 0..nodes.len() {
        if marks[start] != Mark::New {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::OnPath;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let deps = nodes[node].depends_on;
            if *next >= deps.len() {
                marks[node] = Mark::Done;
                stack.pop();
                continue;
            }
            let dep = &deps[*next];
            *next += 1;
            let Some(&d) = index.get(dep.as_str()) else {
                continue;
            };
            match marks[d] {
                Mark::OnPath => {
                    let from = stack.iter().position(|&(n, _)| n == d).unwrap_or(0);
                    let mut path: Vec<String> = stack[from..]
                        .iter()
                        .map(|&(n, _)| nodes[n].id.to_owned())
                        .collect();
                    path.push(nodes[d].id.to_owned());
                    return Some(path);
                }
                Mark::New => {
                    marks[d] = Mark::OnPath;
                    stack.push((d, 0));
                }
                Mark::Done => {}
            }
        }
    }
    None
}

/// The waves of an acyclic graph with known dependencies (see [`find_cycle`]), tasks in file
/// order within a wave. `files`: the paths of the base commit (for the overlap rule).
pub fn waves(nodes: &[Node<'_>], files: &[String]) -> Vec<Wave> {
    let index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let mut depth: Vec<Option<usize>> = vec![None; nodes.len()];
    fn depth_of(
        i: usize,
        nodes: &[Node<'_>],
        index: &HashMap<&str, usize>,
        depth: &mut Vec<Option<usize>>,
    ) -> usize {
        if let Some(d) = depth[i] {
            return d;
        }
        let d = 1 + nodes[i]
            .depends_on
            .iter()
            .filter_map(|dep| index.get(dep.as_str()))
            .map(|&j| depth_of(j, nodes, index, depth))
            .max()
            .unwrap_or(0);
        depth[i] = Some(d);
        d
    }
    let mut by_wave: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..nodes.len() {
        let d = depth_of(i, nodes, &index, &mut depth);
        by_wave.entry(d).or_default().push(i);
    }
    by_wave
        .into_iter()
        .map(|(number, members)| {
            let mut serialized = Vec::new();
            for (k, &a) in members.iter().enumerate() {
                for &b in &members[k + 1..] {
                    if let Some(because) =
                        touches_overlap(nodes[a].touches, nodes[b].touches, files)
                    {
                        serialized.push(Serialized {
                            first: nodes[a].id.to_owned(),
                            second: nodes[b].id.to_owned(),
                            because,
                        });
                    }
                }
            }
            Wave {
                number,
                tasks: members.iter().map(|&i| nodes[i].id.to_owned()).collect(),
                serialized,
            }
        })
        .collect()
}

/// The first pair of overlapping globs of two `touches` lists.
pub fn touches_overlap(a: &[String], b: &[String], files: &[String]) -> Option<(String, String)> {
    a.iter().find_map(|x| {
        b.iter()
            .find(|y| globs_overlap(x, y, files))
            .map(|y| (x.clone(), y.clone()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    struct Spec {
        id: &'static str,
        deps: Vec<String>,
        touches: Vec<String>,
    }

    fn spec(id: &'static str, deps: &[&str], touches: &[&str]) -> Spec {
        Spec {
            id,
            deps: owned(deps),
            touches: owned(touches),
        }
    }

    fn nodes(specs: &[Spec]) -> Vec<Node<'_>> {
        specs
            .iter()
            .map(|s| Node {
                id: s.id,
                depends_on: &s.deps,
                touches: &s.touches,
            })
            .collect()
    }

    #[test]
    fn a_cycle_is_named_with_its_path() {
        let specs = [
            spec("a", &["b"], &[]),
            spec("b", &["c"], &[]),
            spec("c", &["a"], &[]),
            spec("d", &[], &[]),
        ];
        assert_eq!(
            find_cycle(&nodes(&specs)),
            Some(owned(&["a", "b", "c", "a"]))
        );
    }

    #[test]
    fn a_self_dependency_is_a_cycle_and_a_diamond_is_not() {
        let specs = [spec("a", &["a"], &[])];
        assert_eq!(find_cycle(&nodes(&specs)), Some(owned(&["a", "a"])));
        let specs = [
            spec("top", &[], &[]),
            spec("l", &["top"], &[]),
            spec("r", &["top"], &[]),
            spec("bottom", &["l", "r", "unknown"], &[]),
        ];
        assert_eq!(find_cycle(&nodes(&specs)), None);
    }

    #[test]
    fn a_cycle_below_an_acyclic_start_is_found_without_its_entry() {
        let specs = [
            spec("entry", &["x"], &[]),
            spec("x", &["y"], &[]),
            spec("y", &["x"], &[]),
        ];
        assert_eq!(find_cycle(&nodes(&specs)), Some(owned(&["x", "y", "x"])));
    }

    #[test]
    fn waves_are_depths_and_overlapping_tasks_of_a_wave_are_serialized() {
        let specs = [
            spec("skeleton", &[], &["src/search/mod.rs"]),
            spec("index", &["skeleton"], &["src/search/index/**"]),
            spec("query", &["skeleton"], &["src/search/query.rs"]),
            spec("ranking", &["skeleton"], &["src/search/index/rank.rs"]),
            spec("docs", &["index", "query", "ranking"], &["docs/**"]),
        ];
        let waves = waves(&nodes(&specs), &[]);
        let tasks: Vec<Vec<String>> = waves.iter().map(|w| w.tasks.clone()).collect();
        assert_eq!(
            tasks,
            vec![
                owned(&["skeleton"]),
                owned(&["index", "query", "ranking"]),
                owned(&["docs"])
            ]
        );
        assert_eq!(
            waves[1].serialized,
            vec![Serialized {
                first: "index".into(),
                second: "ranking".into(),
                because: (
                    "src/search/index/**".into(),
                    "src/search/index/rank.rs".into()
                ),
            }]
        );
        assert!(waves[0].serialized.is_empty() && waves[2].serialized.is_empty());
    }

    #[test]
    fn the_overlap_rule() {
        let none: &[String] = &[];
        assert!(globs_overlap("src/a.rs", "src/a.rs", none));
        assert!(globs_overlap(
            "src/search/**",
            "src/search/index/*.rs",
            none
        ));
        assert!(globs_overlap("src/search/**", "src/search/mod.rs", none));
        assert!(globs_overlap("src/search", "src/search/mod.rs", none));
        assert!(globs_overlap("src/*.rs", "src/lib.rs", none));
        assert!(!globs_overlap("src/*.rs", "src/*.md", none));
        assert!(!globs_overlap("src/a.rs", "src/b.rs", none));
        assert!(!globs_overlap("src/*.rs", "src/sub/x.rs", none));
        // Neither matches the other's prefix, but a file at the base matches both.
        assert!(!globs_overlap("src/a/*", "src/*/b.rs", none));
        assert!(globs_overlap(
            "src/a/*",
            "src/*/b.rs",
            &owned(&["src/a/b.rs"])
        ));
    }
}
