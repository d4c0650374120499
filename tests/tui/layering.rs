//! The modules of `src/tui/` import each other without cycles (screens get a context, never
//! the app; the image workers and jobs send any message type that can be built from theirs).
//! Read from the source: every `crate::tui::…` and `super::…` path outside test modules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

fn module_of(path: &Path) -> Module {
    let rel = path.strip_prefix("src").unwrap().with_extension("");
    let mut m: Module = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if m.last().is_some_and(|l| l == "mod") {
        m.pop();
    }
    m
}

/// Module -> the modules of `src/tui/` it names.
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let files: Vec<_> = walkdir::WalkDir::new("src/tui")
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    let modules: BTreeSet<Module> = files.iter().map(|p| module_of(p)).collect();
    let path_re = regex::Regex::new(r"\b(crate::tui::[\w:]+|super::[\w:]+)").unwrap();
    let mut graph = BTreeMap::new();
    for file in &files {
        let me = module_of(file);
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut deps = BTreeSet::new();
        for m in path_re.find_iter(code) {
            let parts: Vec<&str> = m.as_str().split("::").collect();
            let mut target: Module = if parts[0] == "crate" {
                std::iter::once("tui".to_string())
                    .chain(parts[2..].iter().map(|s| s.to_string()))
                    .collect()
            } else {
                let mut base = me[..me.len() - 1].to_vec();
                let mut rest = &parts[1..];
                while rest.first() == Some(&"super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend(rest.iter().map(|s| s.to_string()));
                base
            };
            while !target.is_empty() && !modules.contains(&target) {
                target.pop();
            }
            if !target.is_empty() && target != me {
                deps.insert(target);
            }
        }
        graph.insert(me, deps);
    }
    graph
}

fn find_cycle(
    graph: &BTreeMap<Module, BTreeSet<Module>>,
    node: &Module,
    stack: &mut Vec<Module>,
    done: &mut BTreeSet<Module>,
) -> Option<Vec<Module>> {
    if let Some(i) = stack.iter().position(|m| m == node) {
        let mut cycle = stack[i..].to_vec();
        cycle.push(node.clone());
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    stack.push(node.clone());
    for dep in graph.get(node).into_iter().flatten() {
        if let Some(c) = find_cycle(graph, dep, stack, done) {
            return Some(c);
        }
    }
    stack.pop();
    done.insert(node.clone());
    None
}

#[test]
fn tui_modules_import_each_other_without_cycles() {
    let graph = graph();
    assert!(graph.len() > 20, "the scan found the modules");
    // The scan sees real edges: screens name the screen trait.
    assert!(
        graph[&vec!["tui".to_string(), "screens".into(), "lint".into()]]
            .contains(&vec!["tui".to_string(), "screen".into()])
    );
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = find_cycle(&graph, node, &mut Vec::new(), &mut done) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            panic!("import cycle: {}", names.join(" -> "));
        }
    }
}
