//! The ordering rule, in one place.
//!
//! 1. Sort by `(stage, module rank, placement sequence)`. `first()` taps get decreasing negative
//!    sequence numbers (the last `first()` runs first), `last()` taps increasing positive ones.
//! 2. Apply `before`/`after` constraints by a stable topological sort that moves the tap that
//!    declared the constraint, and only as far as needed: a tap with `before("x")` is pulled up
//!    to just before `x` (it takes `x`'s position as its priority, if earlier than its own); a tap
//!    with `after("x")` waits until `x` has run, then keeps its own priority. Among the taps whose
//!    constraints are met, the one with the earliest priority runs next.
//!
//! An unknown name or a cycle is an error that names the taps. The order is computed when taps
//! change, never per call.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::error::RegisterError;
use crate::tap::TapInfo;

/// Returns the indices of `taps` in running order.
pub(crate) fn order(hook: &str, taps: &[Arc<TapInfo>]) -> Result<Vec<usize>, RegisterError> {
    let n = taps.len();
    let mut base: Vec<usize> = (0..n).collect();
    base.sort_by_key(|&i| (taps[i].stage, taps[i].module_rank(), taps[i].seq));
    let has_constraints = taps
        .iter()
        .any(|t| !t.before.is_empty() || !t.after.is_empty());
    if !has_constraints {
        return Ok(base);
    }

    // rank[i] = position of tap i in the base order: the tie-breaker of the topological sort.
    let mut rank = vec![0; n];
    for (position, &i) in base.iter().enumerate() {
        rank[i] = position;
    }
    let mut successors: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut pulled_by: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree = vec![0usize; n];
    for (i, tap) in taps.iter().enumerate() {
        let relations = tap
            .before
            .iter()
            .map(|r| ("before", r))
            .chain(tap.after.iter().map(|r| ("after", r)));
        for (relation, reference) in relations {
            let targets: Vec<usize> = (0..n)
                .filter(|&j| j != i && taps[j].matches(reference))
                .collect();
            if targets.is_empty() {
                return Err(RegisterError::UnknownTap {
                    hook: hook.to_owned(),
                    tap: tap.name().to_owned(),
                    relation,
                    reference: reference.to_string(),
                });
            }
            for j in targets {
                let (from, to) = if relation == "before" {
                    pulled_by[i].push(j);
                    (i, j)
                } else {
                    (j, i)
                };
                successors[from].push(to);
                indegree[to] += 1;
            }
        }
    }

    // priority[i]: the earliest base position among i and the taps it must precede.
    let mut priority: Vec<Option<usize>> = vec![None; n];
    for i in 0..n {
        pull(i, &rank, &pulled_by, &mut priority, &mut vec![false; n]);
    }
    let key = |i: usize| (priority[i].unwrap_or(rank[i]), rank[i], i);
    let mut ready: BinaryHeap<Reverse<(usize, usize, usize)>> = (0..n)
        .filter(|&i| indegree[i] == 0)
        .map(|i| Reverse(key(i)))
        .collect();
    let mut out = Vec::with_capacity(n);
    while let Some(Reverse((_, _, i))) = ready.pop() {
        out.push(i);
        for &j in &successors[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(Reverse(key(j)));
            }
        }
    }
    if out.len() == n {
        return Ok(out);
    }
    Err(RegisterError::Cycle {
        hook: hook.to_owned(),
        taps: find_cycle(taps, &successors, &indegree),
    })
}

/// Walks the unresolved part of the graph until a node repeats; returns that cycle's names.
fn find_cycle(taps: &[Arc<TapInfo>], successors: &[Vec<usize>], indegree: &[usize]) -> Vec<String> {
    let stuck = |i: usize| indegree[i] > 0;
    let Some(start) = (0..taps.len()).find(|&i| stuck(i)) else {
        return Vec::new();
    };
    // Every stuck node has a stuck predecessor; walking predecessors must revisit a node.
    let predecessor =
        |node: usize| (0..taps.len()).find(|&p| stuck(p) && successors[p].contains(&node));
    let mut path = vec![start];
    let mut node = start;
    while let Some(p) = predecessor(node) {
        if let Some(pos) = path.iter().position(|&x| x == p) {
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0]);
            return cycle
                .into_iter()
                .map(|i| taps[i].name().to_owned())
                .collect();
        }
        path.push(p);
        node = p;
    }
    path.into_iter()
        .map(|i| taps[i].name().to_owned())
        .collect()
}

/// Computes `priority[i]` through `before` edges (memoized; a cycle is left to the caller).
fn pull(
    i: usize,
    rank: &[usize],
    pulled_by: &[Vec<usize>],
    priority: &mut [Option<usize>],
    visiting: &mut [bool],
) -> usize {
    if let Some(p) = priority[i] {
        return p;
    }
    if visiting[i] {
        return rank[i];
    }
    visiting[i] = true;
    let mut p = rank[i];
    for &j in &pulled_by[i] {
        p = p.min(pull(j, rank, pulled_by, priority, visiting));
    }
    visiting[i] = false;
    priority[i] = Some(p);
    p
}
