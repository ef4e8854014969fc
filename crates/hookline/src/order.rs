//! The ordering rule, in one place.
//!
//! 1. Sort by `(stage, placement sequence)`. `first()` taps get decreasing negative sequence
//!    numbers (the last `first()` runs first), `last()` taps increasing positive ones — so
//!    `last()` taps run in registration order, and modules, which register their taps when
//!    they are installed, in installation order (Octo's registration order).
//! 2. Module order: within a stage, a tap of a module runs after the taps of the modules that
//!    module depends on, directly or not. The tap waits for them and otherwise keeps its place
//!    (it moves only as far as needed). Installation already puts a module after its
//!    dependencies, so this only moves `first()` taps and taps registered late.
//! 3. Apply `before`/`after` constraints by the same stable topological sort, which moves the tap
//!    that declared the constraint, and only as far as needed: a tap with `before("x")` is
//!    pulled up to just before `x` (it takes `x`'s position as its priority, if earlier than its
//!    own); a tap with `after("x")` waits until `x` has run, then keeps its own priority. Among
//!    the taps whose constraints are met, the one with the earliest priority runs next.
//!
//! An unknown name or a cycle is an error that names the taps; so is a constraint that
//! contradicts the module order ([`RegisterError::ModuleOrder`]). The order is computed when
//! taps change, never per call.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::error::RegisterError;
use crate::tap::TapInfo;

/// Returns the indices of `taps` in running order.
pub(crate) fn order(hook: &str, taps: &[Arc<TapInfo>]) -> Result<Vec<usize>, RegisterError> {
    let n = taps.len();
    let mut base: Vec<usize> = (0..n).collect();
    base.sort_by_key(|&i| (taps[i].stage, taps[i].seq));
    // `follows(i, j)`: module order puts tap `i` after tap `j`.
    let follows = |i: usize, j: usize| {
        i != j && taps[i].stage == taps[j].stage && taps[i].follows_module_of(&taps[j])
    };
    // Only taps of modules with dependencies can be held back by module order.
    let dependents: Vec<usize> = (0..n)
        .filter(|&i| {
            taps[i]
                .module
                .as_ref()
                .is_some_and(|m| !m.ancestors.is_empty())
        })
        .collect();
    let has_constraints = taps
        .iter()
        .any(|t| !t.before.is_empty() || !t.after.is_empty())
        || dependents.iter().any(|&i| (0..n).any(|j| follows(i, j)));
    if !has_constraints {
        return Ok(base);
    }

    // position[i] = position of tap i in the base order: the tie-breaker of the topological
    // sort.
    let mut position = vec![0; n];
    for (p, &i) in base.iter().enumerate() {
        position[i] = p;
    }
    let mut successors: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut pulled_by: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree = vec![0usize; n];
    for &i in &dependents {
        for j in (0..n).filter(|&j| follows(i, j)) {
            successors[j].push(i);
            indegree[i] += 1;
        }
    }
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
        pull(i, &position, &pulled_by, &mut priority, &mut vec![false; n]);
    }
    let key = |i: usize| (priority[i].unwrap_or(position[i]), position[i], i);
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
    let cycle = find_cycle(taps.len(), &successors, &indegree);
    // An edge of the cycle that no `before`/`after` declares comes from the module order.
    let declared = |a: usize, b: usize| {
        taps[a].before.iter().any(|r| taps[b].matches(r))
            || taps[b].after.iter().any(|r| taps[a].matches(r))
    };
    let from_modules = cycle
        .windows(2)
        .find(|pair| !declared(pair[0], pair[1]) && follows(pair[1], pair[0]));
    if let Some(&[first, then]) = from_modules {
        let module = |i: usize| taps[i].module().unwrap_or_default().to_owned();
        return Err(RegisterError::ModuleOrder {
            hook: hook.to_owned(),
            taps: cycle.iter().map(|&i| label(&taps[i])).collect(),
            module: module(then),
            dependency: module(first),
        });
    }
    Err(RegisterError::Cycle {
        hook: hook.to_owned(),
        taps: cycle
            .into_iter()
            .map(|i| taps[i].name().to_owned())
            .collect(),
    })
}

/// `module/name`, or the bare name of a tap without a module.
fn label(tap: &TapInfo) -> String {
    match tap.module() {
        Some(module) => format!("{module}/{}", tap.name()),
        None => tap.name().to_owned(),
    }
}

/// Walks the unresolved part of the graph until a node repeats; returns that cycle, in running
/// order, its first tap repeated at the end.
fn find_cycle(n: usize, successors: &[Vec<usize>], indegree: &[usize]) -> Vec<usize> {
    let stuck = |i: usize| indegree[i] > 0;
    let Some(start) = (0..n).find(|&i| stuck(i)) else {
        return Vec::new();
    };
    // Every stuck node has a stuck predecessor; walking predecessors must revisit a node.
    let predecessor = |node: usize| (0..n).find(|&p| stuck(p) && successors[p].contains(&node));
    let mut path = vec![start];
    let mut node = start;
    while let Some(p) = predecessor(node) {
        if let Some(pos) = path.iter().position(|&x| x == p) {
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0]);
            return cycle;
        }
        path.push(p);
        node = p;
    }
    path
}

/// Computes `priority[i]` through `before` edges (memoized; a cycle is left to the caller).
fn pull(
    i: usize,
    position: &[usize],
    pulled_by: &[Vec<usize>],
    priority: &mut [Option<usize>],
    visiting: &mut [bool],
) -> usize {
    if let Some(p) = priority[i] {
        return p;
    }
    if visiting[i] {
        return position[i];
    }
    visiting[i] = true;
    let mut p = position[i];
    for &j in &pulled_by[i] {
        p = p.min(pull(j, position, pulled_by, priority, visiting));
    }
    visiting[i] = false;
    priority[i] = Some(p);
    p
}
