//! From parsed DOT to a checked [`Pipeline`]: task decoding, implicit `$(x)` edges, cycle
//! check, topological order and terminal tasks (§2.5 of the pipeline spec).

use std::collections::HashMap;

use crate::common::CommonAttrs;
use crate::dot::parser::{self, RawGraph, RawNode};
use crate::dot::refs::var_refs;
use crate::error::{LineIndex, Location, SpecError};
use crate::task_type::{COMMON_ATTRIBUTES, TaskType};

/// Task names that would shadow the run's own variables.
const RESERVED_NAMES: &[&str] = &["input", "jobSpec", "jobRun"];
/// Roots of `$(…)` that name no task but are defined when a run starts.
const RUN_VARIABLES: &[&str] = &["input", "jobSpec", "jobRun"];

/// A checked pipeline: tasks in topological order (§2.5), so a task's position in
/// [`Pipeline::tasks`] is its topological position and every index below refers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// Tasks in topological order.
    pub tasks: Vec<Task>,
}

/// One task of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The task's name (its DOT node id).
    pub name: String,
    /// Where the task is declared.
    pub at: Location,
    /// The task type (`type=…`).
    pub task_type: TaskType,
    /// The task's own parameters, keys in canonical spelling, in source order.
    pub attrs: Vec<Attr>,
    /// The common attributes, parsed.
    pub common: CommonAttrs,
    /// Upstream tasks of explicit edges, in input order: by their `index` (unset first),
    /// then topological position.
    pub inputs: Vec<usize>,
    /// Upstream tasks referenced only through `$(x)` (they order execution, give no input).
    pub implicit_deps: Vec<usize>,
    /// Downstream tasks, explicit and implicit, in topological order.
    pub dependents: Vec<usize>,
}

/// A task parameter: the decoded attribute text (§2.4) and where its value starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// Canonical parameter name (`times`, `requestData`, …).
    pub key: String,
    /// The value after DOT decoding; always text at this stage.
    pub value: String,
    /// Location of the value in the file.
    pub at: Location,
}

impl Task {
    /// The parameter `key` (canonical spelling), if written.
    pub fn attr(&self, key: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.key == key)
    }

    /// A task with no dependents; its result is one of the run's outputs.
    pub fn is_terminal(&self) -> bool {
        self.dependents.is_empty()
    }
}

impl Pipeline {
    /// Parses DOT text on its own; error positions are counted in `dot`.
    pub fn parse(dot: &str) -> Result<Pipeline, SpecError> {
        let lines = LineIndex::new(dot);
        parse_mapped(dot, &|offset| lines.locate(offset))
    }

    /// The task called `name`, with its position.
    pub fn task(&self, name: &str) -> Option<(usize, &Task)> {
        self.tasks.iter().enumerate().find(|(_, t)| t.name == name)
    }

    /// Terminal tasks in output order: by `index` (unset −1 first), ties by topological
    /// position.
    pub fn terminals(&self) -> Vec<usize> {
        let mut out: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| self.tasks[i].is_terminal())
            .collect();
        out.sort_by_key(|&i| (self.tasks[i].common.index, i));
        out
    }
}

/// Parses DOT text whose byte offsets `locate` maps to file locations.
pub(crate) fn parse_mapped(
    dot: &str,
    locate: &dyn Fn(usize) -> Location,
) -> Result<Pipeline, SpecError> {
    let at = |offset: usize, message: String| {
        let l = locate(offset);
        SpecError {
            line: l.line,
            column: l.column,
            message,
        }
    };
    if dot.trim().is_empty() {
        return Err(at(
            0,
            "empty pipeline: observationSource has no tasks".into(),
        ));
    }
    let raw = parser::parse(dot).map_err(|e| at(e.offset, e.message))?;
    if raw.nodes.is_empty() {
        return Err(at(
            0,
            "empty pipeline: observationSource has only comments, no tasks".into(),
        ));
    }
    build(dot, raw, locate, &at)
}

struct Decoded {
    task_type: TaskType,
    attrs: Vec<Attr>,
    common: CommonAttrs,
    index_at: usize,
}

type Locate<'a> = &'a dyn Fn(usize) -> Location;
type At<'a> = &'a dyn Fn(usize, String) -> SpecError;

fn build(dot: &str, raw: RawGraph, locate: Locate<'_>, at: At<'_>) -> Result<Pipeline, SpecError> {
    let by_name: HashMap<&str, usize> = raw
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let mut decoded = Vec::with_capacity(raw.nodes.len());
    for node in &raw.nodes {
        decoded.push(decode_task(node, &raw, locate, at)?);
    }
    check_indexes(&decoded, at)?;

    // Explicit edges, then implicit ones from `$(name…)` in any attribute value.
    let n = raw.nodes.len();
    let mut succ: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    let mut explicit = vec![Vec::new(); n];
    for e in &raw.edges {
        succ[e.from].push((e.to, e.at));
        explicit[e.to].push(e.from);
    }
    let mut implicit = vec![Vec::new(); n];
    for (to, node) in raw.nodes.iter().enumerate() {
        for a in &node.attrs {
            let raw_value = dot.get(a.value_start..a.value_end).unwrap_or("");
            for r in var_refs(&a.value) {
                // The match as written, when escapes did not change it (they rarely can).
                let offset = a.value_start + raw_value.find(r.text).unwrap_or(0);
                let Some(&from) = by_name.get(r.root) else {
                    if !RUN_VARIABLES.contains(&r.root) && !a.key.eq_ignore_ascii_case("tags") {
                        return Err(at(
                            offset,
                            format!(
                                "unknown variable {}: no task named {:?} (expected a task name, jobSpec or jobRun)",
                                r.text, r.root
                            ),
                        ));
                    }
                    continue;
                };
                if from != to && !succ[from].iter().any(|&(s, _)| s == to) {
                    succ[from].push((to, offset));
                    implicit[to].push(from);
                }
            }
        }
    }
    if let Some((cycle, offset)) = find_cycle(&succ) {
        let names: Vec<&str> = cycle.iter().map(|&i| raw.nodes[i].name.as_str()).collect();
        return Err(at(
            offset,
            format!(
                "Unable to topologically sort the graph, cycle detected: {}",
                names.join(" -> ")
            ),
        ));
    }
    let order = topological_order(&succ);
    let mut position = vec![0; n];
    for (pos, &node) in order.iter().enumerate() {
        position[node] = pos;
    }

    // Inputs are ordered by the upstream `index` (unset −1 first), then position.
    let input_key = |u: usize| (decoded[u].common.index, position[u]);
    let to_positions = |nodes: &[usize]| -> Vec<usize> {
        let mut v: Vec<usize> = nodes.iter().map(|&u| position[u]).collect();
        v.sort_unstable();
        v
    };
    let mut tasks = Vec::with_capacity(n);
    for &node in &order {
        let raw_node = &raw.nodes[node];
        let mut inputs = explicit[node].clone();
        inputs.sort_by_key(|&u| input_key(u));
        let dependents: Vec<usize> = succ[node].iter().map(|&(s, _)| s).collect();
        let d = &decoded[node];
        tasks.push(Task {
            name: raw_node.name.clone(),
            at: locate(raw_node.declared_at.unwrap_or(raw_node.first_mention)),
            task_type: d.task_type,
            attrs: d.attrs.clone(),
            common: d.common.clone(),
            inputs: inputs.into_iter().map(|u| position[u]).collect(),
            implicit_deps: to_positions(&implicit[node]),
            dependents: to_positions(&dependents),
        });
    }
    Ok(Pipeline { tasks })
}

fn decode_task(
    node: &RawNode,
    raw: &RawGraph,
    locate: Locate<'_>,
    at: At<'_>,
) -> Result<Decoded, SpecError> {
    let name = &node.name;
    let Some(declared_at) = node.declared_at else {
        let edge = raw
            .edges
            .iter()
            .find(|e| raw.nodes[e.to].name == *name || raw.nodes[e.from].name == *name);
        return Err(match edge {
            Some(_) => at(
                node.first_mention,
                format!("edge to undeclared task {name}"),
            ),
            None => at(
                node.first_mention,
                format!("task {name} has no attributes (expected {name} [type=\"…\" …])"),
            ),
        });
    };
    if RESERVED_NAMES.contains(&name.as_str()) {
        return Err(at(
            declared_at,
            format!("'{name}' is a reserved keyword that cannot be used as a task's name"),
        ));
    }
    let known_types = || TaskType::ALL.map(TaskType::name).join(", ");
    let mut type_attrs = node.attrs.iter().filter(|a| a.key == "type");
    let type_attr = type_attrs.next();
    if let Some(again) = type_attrs.next() {
        return Err(at(
            again.key_start,
            format!("attribute type given twice for task {name}"),
        ));
    }
    let task_type = match type_attr {
        None => {
            return Err(at(
                declared_at,
                format!(
                    "task {name} has no type attribute (expected type=\"…\", one of {})",
                    known_types()
                ),
            ));
        }
        Some(a) => TaskType::from_name(&a.value).ok_or_else(|| {
            at(
                a.value_start,
                format!(
                    "unknown task type {:?} for task {name} (expected one of {})",
                    a.value,
                    known_types()
                ),
            )
        })?,
    };
    let mut decoded = Decoded {
        task_type,
        attrs: Vec::new(),
        common: CommonAttrs::default(),
        index_at: declared_at,
    };
    let mut seen: Vec<&str> = Vec::new();
    for a in node.attrs.iter().filter(|a| a.key != "type") {
        let canonical = task_type
            .parameters()
            .iter()
            .chain(COMMON_ATTRIBUTES)
            .find(|p| p.eq_ignore_ascii_case(&a.key))
            .copied()
            .ok_or_else(|| {
                let known: Vec<&str> = task_type
                    .parameters()
                    .iter()
                    .chain(COMMON_ATTRIBUTES)
                    .copied()
                    .collect();
                at(
                    a.key_start,
                    format!(
                        "unknown attribute {:?} for {task_type} task {name} (known: {})",
                        a.key,
                        known.join(", ")
                    ),
                )
            })?;
        if seen.contains(&canonical) {
            return Err(at(
                a.key_start,
                format!("attribute {canonical} given twice for task {name}"),
            ));
        }
        seen.push(canonical);
        if COMMON_ATTRIBUTES.contains(&canonical) {
            decoded
                .common
                .set(canonical, &a.value)
                .map_err(|why| at(a.value_start, format!("task {name}: {why}")))?;
            if canonical == "index" {
                decoded.index_at = a.value_start;
            }
        } else {
            crate::literals::check(task_type, canonical, &a.value)
                .map_err(|why| at(a.value_start, format!("task {name}: {why}")))?;
            let attr = Attr {
                key: canonical.to_owned(),
                value: a.value.clone(),
                at: locate(a.value_start),
            };
            decoded.attrs.push(attr);
        }
    }
    Ok(decoded)
}

/// The same `index` above 0 on two tasks is refused (a repeated 0 is allowed, Quirk).
fn check_indexes(decoded: &[Decoded], at: At<'_>) -> Result<(), SpecError> {
    let mut seen = HashMap::new();
    for d in decoded {
        let index = d.common.index;
        if index > 0 && seen.insert(index, ()).is_some() {
            return Err(at(
                d.index_at,
                format!("duplicate sorting indexes detected (index {index} used twice)"),
            ));
        }
    }
    Ok(())
}

/// A cycle as node numbers (first node repeated at the end) and the offset of the edge that
/// closes it, if the graph has one.
fn find_cycle(succ: &[Vec<(usize, usize)>]) -> Option<(Vec<usize>, usize)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; succ.len()];
    for root in 0..succ.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next successor to look at); `path` holds the open nodes.
        let mut stack = vec![(root, 0usize)];
        mark[root] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&(s, offset)) = succ[node].get(*next) {
                *next += 1;
                match mark[s] {
                    Mark::New => {
                        mark[s] = Mark::Open;
                        stack.push((s, 0));
                    }
                    Mark::Open => {
                        let start = stack.iter().position(|&(n, _)| n == s).unwrap_or(0);
                        let mut cycle: Vec<usize> =
                            stack[start..].iter().map(|&(n, _)| n).collect();
                        cycle.push(s);
                        return Some((cycle, offset));
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

/// §2.5: DFS from unvisited tasks in decreasing mention number, successors in decreasing
/// number; the order is the reverse of the finishing order. The graph must be acyclic.
fn topological_order(succ: &[Vec<(usize, usize)>]) -> Vec<usize> {
    let sorted: Vec<Vec<usize>> = succ
        .iter()
        .map(|s| {
            let mut v: Vec<usize> = s.iter().map(|&(t, _)| t).collect();
            v.sort_unstable_by(|a, b| b.cmp(a));
            v
        })
        .collect();
    let mut visited = vec![false; succ.len()];
    let mut finished = Vec::with_capacity(succ.len());
    for root in (0..succ.len()).rev() {
        if visited[root] {
            continue;
        }
        visited[root] = true;
        let mut stack = vec![(root, 0usize)];
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&s) = sorted[node].get(*next) {
                *next += 1;
                if !visited[s] {
                    visited[s] = true;
                    stack.push((s, 0));
                }
            } else {
                finished.push(node);
                stack.pop();
            }
        }
    }
    finished.reverse();
    finished
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_is_named_in_order() {
        let succ = vec![vec![(1, 10)], vec![(2, 20)], vec![(0, 30)]];
        assert_eq!(find_cycle(&succ), Some((vec![0, 1, 2, 0], 30)));
        assert_eq!(find_cycle(&[vec![(1, 0)], vec![]]), None);
    }
}
