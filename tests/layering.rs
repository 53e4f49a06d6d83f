//! The layering of `src/` read from the code's own paths (`use crate::…`, `crate::x::y(…)`,
//! `super::…`, child modules, and `vanelia::…` in the binary): every import must follow the
//! table in ARCHITECTURE.md, and no two files may depend on each other through a cycle.
//!
//! A file's use of its own parent module (`super::` into a `mod.rs`) is part of one module and
//! not counted; everything else is, comments excepted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which top-level modules each may import. `bin` is `main.rs` and `cli/`, which may use the
/// whole library; nothing in the library may use `cli`.
const ALLOWED: &[(&str, &[&str])] = &[
    ("core", &[]),
    ("nn", &["core"]),
    ("video", &["core"]),
    ("workdir", &["core"]),
    ("pose", &["core", "nn", "video", "workdir"]),
    ("render", &["core", "nn", "video", "workdir"]),
    ("composite", &["core", "nn", "video", "workdir"]),
    ("diffusion", &["core", "nn", "video", "workdir"]),
    ("eval", &["core", "nn", "video", "workdir"]),
    (
        "memory",
        &["core", "nn", "pose", "render", "composite", "diffusion"],
    ),
    (
        "run",
        &[
            "core",
            "nn",
            "video",
            "workdir",
            "pose",
            "render",
            "composite",
            "diffusion",
            "eval",
            "memory",
        ],
    ),
];

/// A source file and the module path it defines.
struct SourceFile {
    rel: PathBuf,
    module: Vec<String>,
    binary: bool,
    text: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn load_sources() -> Vec<SourceFile> {
    let src = src_dir();
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(&src).unwrap().to_path_buf();
            let mut module: Vec<String> = rel
                .with_extension("")
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            let binary = rel == Path::new("main.rs") || rel.starts_with("cli");
            let text = strip_comments(&std::fs::read_to_string(&path).unwrap());
            SourceFile {
                rel,
                module,
                binary,
                text,
            }
        })
        .collect()
}

/// The text without `//` comments (doc comments included) and string literals' contents.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut prev = ' ';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if in_string {
                if c == '"' && prev != '\\' {
                    in_string = false;
                    kept.push('"');
                }
            } else if c == '"' && prev != '\'' {
                in_string = true;
                kept.push('"');
            } else if c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            } else {
                kept.push(c);
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// Every path that starts at `anchor` (`crate`, `super`, `self`, `vanelia`), group imports
/// (`{a, b::c}`) expanded, as segments after the anchor.
fn anchored_paths(text: &str, anchor: &str) -> Vec<Vec<String>> {
    let needle = format!("{anchor}::");
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find(&needle) {
        let start = from + pos;
        from = start + needle.len();
        let preceded = start > 0 && {
            let b = bytes[start - 1];
            b.is_ascii_alphanumeric() || b == b'_' || b == b':' || b == b'$'
        };
        if preceded {
            continue;
        }
        let mut chars = text[from..].chars().peekable();
        parse_tree(&mut chars, Vec::new(), &mut out);
    }
    out
}

/// Parses `a::b::{c, d::e}` into full paths (prefix included).
fn parse_tree(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    let mut path = prefix;
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            loop {
                parse_tree(chars, path.clone(), out);
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                match chars.next() {
                    Some(',') => {
                        while chars.peek().is_some_and(|c| c.is_whitespace()) {
                            chars.next();
                        }
                        if chars.peek() == Some(&'}') {
                            chars.next();
                            return;
                        }
                    }
                    _ => return,
                }
            }
        }
        let ident: String =
            std::iter::from_fn(|| chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_'))
                .collect();
        if ident.is_empty() {
            break;
        }
        path.push(ident);
        let mut ahead = chars.clone();
        if ahead.next() == Some(':') && ahead.next() == Some(':') {
            chars.next();
            chars.next();
        } else {
            break;
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// The file that defines the longest prefix of `path` (a module path from the crate root).
fn resolve(path: &[String], modules: &BTreeMap<Vec<String>, usize>) -> Option<usize> {
    (1..=path.len())
        .rev()
        .find_map(|n| modules.get(&path[..n]).copied())
}

/// File → files it uses.
fn file_graph(files: &[SourceFile]) -> Vec<BTreeSet<usize>> {
    let lib: BTreeMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.binary)
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let bin: BTreeMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.binary)
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let own = if f.binary { &bin } else { &lib };
            let mut targets = Vec::new();
            for p in anchored_paths(&f.text, "crate") {
                targets.extend(resolve(&p, own));
            }
            for p in anchored_paths(&f.text, "vanelia") {
                targets.extend(resolve(&p, &lib));
            }
            // `self` is the file's own module (`run::frames` for `src/run/frames.rs`, `run` for
            // `src/run/mod.rs`), `super` its parent
            let here = f.module.clone();
            for p in anchored_paths(&f.text, "self") {
                targets.extend(resolve(&[here.clone(), p].concat(), own));
            }
            for p in anchored_paths(&f.text, "super") {
                let base = &here[..here.len().saturating_sub(1)];
                targets.extend(resolve(&[base.to_vec(), p].concat(), own));
            }
            // `use child::Item` and `child::f()` name a child module relative to this one
            for (m, &j) in own.iter() {
                if m.len() == here.len() + 1 && m.starts_with(&here) && j != i {
                    let child = format!("{}::", m[here.len()]);
                    if mentions_relative(&f.text, &child) {
                        targets.push(j);
                    }
                }
            }
            targets
                .into_iter()
                .filter(|&j| j != i && !files[j].is_ancestor_of(f))
                .collect()
        })
        .collect()
}

impl SourceFile {
    fn is_ancestor_of(&self, other: &SourceFile) -> bool {
        self.binary == other.binary
            && self.module.len() < other.module.len()
            && other.module.starts_with(&self.module)
    }
}

/// Whether `needle` (`name::`) appears not preceded by a path separator or identifier.
fn mentions_relative(text: &str, needle: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices(needle).any(|(at, _)| {
        at == 0 || {
            let b = bytes[at - 1];
            !(b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        }
    })
}

fn top(f: &SourceFile) -> String {
    if f.binary {
        "bin".into()
    } else {
        f.module.first().cloned().unwrap_or_else(|| "lib".into())
    }
}

#[test]
fn imports_follow_the_layering() {
    let files = load_sources();
    let graph = file_graph(&files);
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut violations = Vec::new();
    for (i, targets) in graph.iter().enumerate() {
        let from = top(&files[i]);
        for &j in targets {
            let to = top(&files[j]);
            if from == to || from == "bin" || from == "lib" {
                continue;
            }
            let ok = if to == "bin" {
                false
            } else {
                allowed
                    .get(from.as_str())
                    .is_some_and(|a| a.contains(&to.as_str()))
            };
            if !ok {
                violations.push(format!(
                    "{} -> {}",
                    files[i].rel.display(),
                    files[j].rel.display()
                ));
            }
        }
    }
    let modules: BTreeSet<String> = files.iter().map(top).collect();
    for m in &modules {
        assert!(
            m == "bin" || m == "lib" || allowed.contains_key(m.as_str()),
            "module {m} is missing from the layering table (tests/layering.rs, ARCHITECTURE.md)"
        );
    }
    assert!(
        violations.is_empty(),
        "imports against the layering:\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_file_depends_on_itself_through_others() {
    let files = load_sources();
    let graph = file_graph(&files);
    let cycles = strongly_connected(&graph);
    let described: Vec<String> = cycles
        .iter()
        .map(|c| {
            c.iter()
                .map(|&i| files[i].rel.display().to_string())
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(
        described.is_empty(),
        "dependency cycles:\n{}",
        described.join("\n")
    );
}

#[test]
fn the_scanner_sees_grouped_relative_and_inline_paths() {
    let text = strip_comments(
        "use crate::{core::{Error, Frame}, video::Source};\n\
         // use crate::pose::x;\n\
         let s = \"crate::diffusion::y\";\n\
         fn f() { crate::memory::plan::plan(&r); }\n",
    );
    let paths = anchored_paths(&text, "crate");
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "core::Error",
            "core::Frame",
            "video::Source",
            "memory::plan::plan"
        ]
    );
}

/// Strongly connected components of more than one file (Tarjan).
fn strongly_connected(graph: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        graph: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in s.graph[v].iter() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort_unstable();
                s.out.push(component);
            }
        }
    }
    let n = graph.len();
    let mut s = State {
        graph,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}
