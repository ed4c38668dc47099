//! Filter order: Maistra's chain, Istio's chain, and the priorities that
//! make the second reproduce the first (SPEC §5).
//!
//! Maistra ordered extensions by phase band, then priority descending, then
//! `name + image` ascending. Istio orders WasmPlugins by phase, then priority
//! descending, then its own tie-break (root namespace, creation time, name).
//! Where two SME phases fold into one WasmPlugin phase, or two SMEs tie, the
//! converted priorities must carry Maistra's order: this module finds, for
//! every group of SMEs that can reach a common workload, priorities that are
//! strictly decreasing in Maistra's order while keeping as many of the
//! original priorities as that allows.

use crate::conversion::mapping::{PluginPhase, SmePhase};
use std::cmp::Ordering;
use std::collections::HashMap;

/// What ordering needs to know of one converted SME.
#[derive(Debug, Clone)]
pub struct Item {
    /// `None` when the manifest names no namespace: every such SME is taken
    /// to be in one and the same namespace.
    pub namespace: Option<String>,
    pub name: String,
    pub image: String,
    pub sme_phase: SmePhase,
    pub priority: i64,
    pub selector: Vec<(String, String)>,
    pub plugin_phase: PluginPhase,
}

impl Item {
    pub fn object(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// One priority that had to move, and an object whose relative order made
/// the move necessary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub index: usize,
    pub old: i64,
    pub new: i64,
    /// Index of an item this one must run before (`before == true`) or after.
    pub partner: usize,
    pub before: bool,
}

/// Maistra's order within its chain: band, priority descending, then
/// `name + image` ascending (a stable sort over a list that holds the root
/// namespace's SMEs before the workload namespace's, so that is the last
/// tie-break).
pub fn maistra_cmp(a: &Item, b: &Item, root_namespace: &str) -> Ordering {
    let not_root = |i: &Item| i.namespace.as_deref() != Some(root_namespace);
    a.sme_phase
        .band()
        .cmp(&b.sme_phase.band())
        .then(b.priority.cmp(&a.priority))
        .then_with(|| {
            let ka = format!("{}{}", a.name, a.image);
            let kb = format!("{}{}", b.name, b.image);
            ka.cmp(&kb)
        })
        .then_with(|| not_root(a).cmp(&not_root(b)))
}

/// Whether two selectors can both match one workload: no label key that the
/// two require with different values. An empty selector matches everything.
pub fn selectors_overlap(a: &[(String, String)], b: &[(String, String)]) -> bool {
    a.iter()
        .all(|(k, v)| b.iter().all(|(k2, v2)| k != k2 || v == v2))
}

/// Whether two SMEs can apply to one workload: same namespace, or one of
/// them in the root namespace (which applies mesh-wide), and selectors that
/// can overlap.
pub fn can_overlap(a: &Item, b: &Item, root_namespace: &str) -> bool {
    let in_root = |i: &Item| i.namespace.as_deref() == Some(root_namespace);
    (a.namespace == b.namespace || in_root(a) || in_root(b))
        && selectors_overlap(&a.selector, &b.selector)
}

/// Priorities that make Istio's chain reproduce Maistra's for every workload.
/// Returns the changes (empty when every priority can stay), or an error
/// when the required priorities leave int32.
pub fn reconcile(items: &[Item], root_namespace: &str) -> Result<Vec<Change>, String> {
    reconcile_with(items, root_namespace, true)
}

/// `reconcile`, with or without the search for fewer changes than the
/// chain method makes (`exact`).
fn reconcile_with(
    items: &[Item],
    root_namespace: &str,
    exact: bool,
) -> Result<Vec<Change>, String> {
    let mut changes = Vec::new();
    for phase in PluginPhase::ALL {
        let group: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].plugin_phase == phase)
            .collect();
        for component in components(items, &group, root_namespace) {
            changes.extend(reconcile_component(
                items,
                component,
                root_namespace,
                exact,
            )?);
        }
    }
    changes.sort_by_key(|c| c.index);
    Ok(changes)
}

/// Components up to this size get the search for the fewest changes.
const EXACT_LIMIT: usize = 48;
/// Kept sets tried at most, per component, in that search.
const EXACT_BUDGET: usize = 20_000;

/// The fewest priorities to change so that every pair of positions that
/// can meet (`edges`: `(k, m)` with `k` before `m` in Maistra's order) is
/// strictly ordered, trying only fewer than `fewer_than` changes; `None`
/// when there is no such set (or the search is over budget). Returns the
/// new priorities.
///
/// The chain method orders a whole component, also SMEs that can never
/// meet (two namespaces that only share the root namespace's SMEs); this
/// search constrains only the pairs that meet. For a set of positions to
/// keep, the others can be given values iff the kept ones leave room: the
/// lowest value each position may take (one above everything it must run
/// before) and the highest (one below everything it must run after) are
/// worked out in one pass each, and every kept priority must lie between.
fn fewest_changes(p: &[i64], edges: &[(usize, usize)], fewer_than: usize) -> Option<Vec<i64>> {
    let n = p.len();
    let (lo_bound, hi_bound) = (i64::from(i32::MIN), i64::from(i32::MAX));
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        succ[a].push(b);
        pred[b].push(a);
    }
    // The values for a kept set (`kept[k]`), or `None` when it leaves no room.
    let assign = |kept: &[bool]| -> Option<Vec<i64>> {
        let mut lo = vec![lo_bound; n];
        for k in (0..n).rev() {
            let need = succ[k].iter().map(|&m| lo[m] + 1).max().unwrap_or(lo_bound);
            lo[k] = if kept[k] {
                if p[k] < need {
                    return None;
                }
                p[k]
            } else {
                need
            };
        }
        let mut hi = vec![hi_bound; n];
        for k in 0..n {
            let room = pred[k].iter().map(|&m| hi[m] - 1).min().unwrap_or(hi_bound);
            hi[k] = if kept[k] {
                if p[k] > room {
                    return None;
                }
                p[k]
            } else {
                room
            };
            if lo[k] > hi[k] {
                return None;
            }
        }
        // In Maistra's order, each moved priority as close to its old value
        // as the room and the positions already given allow.
        let mut out = vec![0i64; n];
        for k in 0..n {
            out[k] = if kept[k] {
                p[k]
            } else {
                let below = pred[k]
                    .iter()
                    .map(|&m| out[m] - 1)
                    .min()
                    .unwrap_or(hi_bound);
                p[k].clamp(lo[k], hi[k].min(below))
            };
        }
        Some(out)
    };
    let mut tried = 0usize;
    for changed in 1..fewer_than.min(n + 1) {
        // Every set of `changed` positions, in lexicographic order.
        let mut pick: Vec<usize> = (0..changed).collect();
        loop {
            tried += 1;
            if tried > EXACT_BUDGET {
                return None;
            }
            let mut kept = vec![true; n];
            for &k in &pick {
                kept[k] = false;
            }
            if let Some(values) = assign(&kept) {
                return Some(values);
            }
            // The next combination.
            let mut i = changed;
            loop {
                if i == 0 {
                    break;
                }
                i -= 1;
                if pick[i] < n - changed + i {
                    pick[i] += 1;
                    for j in i + 1..changed {
                        pick[j] = pick[j - 1] + 1;
                    }
                    break;
                }
                if i == 0 {
                    i = usize::MAX;
                    break;
                }
            }
            if i == usize::MAX {
                break;
            }
        }
    }
    None
}

/// Connected components of the "can reach a common workload" relation.
///
/// Whether two items can meet depends only on their namespaces and on the
/// set of their selector labels, so the items that share both are one node
/// of the graph (when such an item meets itself, which it does unless its
/// selector requires one key with two values). Edges are looked for only
/// between the nodes of one namespace and from the root namespace's nodes
/// to every other node: no pass over every pair of items.
fn components(items: &[Item], group: &[usize], root: &str) -> Vec<Vec<usize>> {
    type NodeKey<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>);
    // For each node, one of its items (an index into `items`).
    let mut nodes: Vec<usize> = Vec::new();
    let mut node_of: Vec<usize> = Vec::with_capacity(group.len());
    let mut by_key: HashMap<NodeKey, usize> = HashMap::new();
    for &i in group {
        let item = &items[i];
        let node = if selectors_overlap(&item.selector, &item.selector) {
            let mut labels: Vec<(&str, &str)> = item
                .selector
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            labels.sort_unstable();
            labels.dedup();
            *by_key
                .entry((item.namespace.as_deref(), labels))
                .or_insert_with(|| {
                    nodes.push(i);
                    nodes.len() - 1
                })
        } else {
            nodes.push(i);
            nodes.len() - 1
        };
        node_of.push(node);
    }
    let mut parent: Vec<usize> = (0..nodes.len()).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    let mut union = |a: usize, b: usize| {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra] = rb;
        }
    };
    // Nodes by namespace, in order of first appearance.
    let mut namespaces: Vec<Vec<usize>> = Vec::new();
    let mut ns_slot: HashMap<Option<&str>, usize> = HashMap::new();
    for (n, &i) in nodes.iter().enumerate() {
        let slot = *ns_slot
            .entry(items[i].namespace.as_deref())
            .or_insert_with(|| {
                namespaces.push(Vec::new());
                namespaces.len() - 1
            });
        namespaces[slot].push(n);
    }
    let meets = |a: usize, b: usize| can_overlap(&items[nodes[a]], &items[nodes[b]], root);
    for members in &namespaces {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                if meets(a, b) {
                    union(a, b);
                }
            }
        }
    }
    if let Some(&slot) = ns_slot.get(&Some(root)) {
        for &r in &namespaces[slot] {
            for n in 0..nodes.len() {
                if items[nodes[n]].namespace.as_deref() != Some(root) && meets(r, n) {
                    union(r, n);
                }
            }
        }
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut slot = vec![usize::MAX; nodes.len()];
    for (a, &member) in group.iter().enumerate() {
        let r = find(&mut parent, node_of[a]);
        if slot[r] == usize::MAX {
            slot[r] = out.len();
            out.push(Vec::new());
        }
        out[slot[r]].push(member);
    }
    out
}

fn reconcile_component(
    items: &[Item],
    mut comp: Vec<usize>,
    root: &str,
    exact: bool,
) -> Result<Vec<Change>, String> {
    // Maistra's order (`maistra_cmp`), with the `name + image` keys built
    // once rather than for every comparison.
    comp.sort_by_cached_key(|&i| {
        let it = &items[i];
        (
            it.sme_phase.band(),
            std::cmp::Reverse(it.priority),
            format!("{}{}", it.name, it.image),
            it.namespace.as_deref() != Some(root),
        )
    });
    let n = comp.len();
    let p: Vec<i64> = comp.iter().map(|&i| items[i].priority).collect();
    let finder = Finder::new(items, &comp, &p, root);
    // Nothing to do when every pair that can meet is already strictly
    // ordered by priority.
    if !(0..n).any(|a| finder.next_meeting(a).is_some()) {
        return Ok(Vec::new());
    }
    // Keep the largest set of priorities that leaves room for the others.
    // Work on the order extended with two sentinels that stand for the
    // int32 bounds: e[0] = MAX + 1 and e[n + 1] = MIN - 1, both kept. Kept
    // positions i < j need e[i] - e[j] >= j - i, that is q[i] >= q[j] with
    // q[k] = e[k] + k: a longest non-increasing subsequence of q among the
    // positions that fit between the sentinels at all.
    let lo_bound = i128::from(i32::MIN) - 1;
    let hi_bound = i128::from(i32::MAX) + 1;
    let mut e: Vec<i128> = Vec::with_capacity(n + 2);
    e.push(hi_bound);
    e.extend(p.iter().map(|&v| i128::from(v)));
    e.push(lo_bound);
    let q = |k: usize| e[k] + k as i128;
    let eligible: Vec<usize> = (1..=n)
        .filter(|&k| q(k) <= q(0) && q(k) >= q(n + 1))
        .collect();
    let qs: Vec<i128> = eligible.iter().map(|&k| q(k)).collect();
    let mut is_kept = vec![false; n + 2];
    is_kept[0] = true;
    is_kept[n + 1] = true;
    for i in longest_non_increasing(&qs) {
        is_kept[eligible[i]] = true;
    }
    // Every moved priority goes below the one before it and high enough to
    // leave room above the next kept one, as close to the original as that
    // allows.
    let mut next_kept = vec![n + 1; n + 2];
    for k in (0..=n).rev() {
        next_kept[k] = if is_kept[k + 1] {
            k + 1
        } else {
            next_kept[k + 1]
        };
    }
    let mut new = e.clone();
    for k in 1..=n {
        if is_kept[k] {
            continue;
        }
        let hi = new[k - 1] - 1;
        // The next kept position (the last sentinel is kept).
        let j = next_kept[k];
        let lo = new[j] + (j - k) as i128;
        if lo > hi {
            return Err(format!(
                "{} cannot be given a priority inside int32 that keeps Maistra's order; lower the priorities of the SMEs around it",
                items[comp[k - 1]].object()
            ));
        }
        new[k] = new[k].clamp(lo, hi);
    }
    let mut new: Vec<i64> = new[1..=n]
        .iter()
        .map(|&v| i64::try_from(v).expect("kept inside int32 by the sentinels"))
        .collect();
    // The chain above orders the whole component; fewer changes may do
    // where some of its SMEs never meet.
    let chain_changes = (0..n).filter(|&k| new[k] != p[k]).count();
    if exact && n <= EXACT_LIMIT && chain_changes > 1 {
        let edges: Vec<(usize, usize)> = (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .filter(|&(a, b)| finder.meets(a, b))
            .collect();
        if let Some(fewer) = fewest_changes(&p, &edges, chain_changes) {
            new = fewer;
        }
    }
    let mut changes = Vec::new();
    for k in 0..n {
        if new[k] != p[k] {
            let (partner, before) = partner_of(&finder, k);
            changes.push(Change {
                index: comp[k],
                old: p[k],
                new: new[k],
                partner: comp[partner],
                before,
            });
        }
    }
    Ok(changes)
}

/// The item whose order forced position `k` to move: one it meets and is
/// mis-ordered with, else its neighbour in Maistra's order.
fn partner_of(finder: &Finder, k: usize) -> (usize, bool) {
    if let Some(m) = finder.next_meeting(k) {
        return (m, true);
    }
    if let Some(m) = finder.prev_meeting(k) {
        return (m, false);
    }
    // A position it meets (one always exists in a component of two or
    // more), the nearest first: never one it cannot meet.
    let n = finder.p.len();
    (1..n)
        .flat_map(|d| {
            [
                (k + d < n).then(|| (k + d, true)),
                k.checked_sub(d).map(|m| (m, false)),
            ]
        })
        .flatten()
        .find(|&(m, _)| finder.meets(k, m))
        .unwrap_or(if k + 1 < n {
            (k + 1, true)
        } else {
            (k.saturating_sub(1), false)
        })
}

/// Finds, for a position of a component in Maistra's order, the next
/// position with a priority at least as high (or the previous one with a
/// priority at most as high) whose SME meets its SME. An SME outside the
/// root namespace meets only SMEs of its own namespace and of the root
/// namespace, so only those two are searched for it; an SME of the root
/// namespace may meet any other, and every position is searched.
struct Finder<'a> {
    items: &'a [Item],
    comp: &'a [usize],
    p: &'a [i64],
    root: &'a str,
    all: Extremes,
    /// For each position, the index of its namespace.
    namespace: Vec<usize>,
    /// For each namespace, its positions in order and a tree of their
    /// priorities.
    positions: Vec<Vec<usize>>,
    trees: Vec<Extremes>,
    root_namespace: Option<usize>,
}

impl<'a> Finder<'a> {
    fn new(items: &'a [Item], comp: &'a [usize], p: &'a [i64], root: &'a str) -> Finder<'a> {
        let mut index: HashMap<Option<&str>, usize> = HashMap::new();
        let mut namespace = Vec::with_capacity(comp.len());
        let mut positions: Vec<Vec<usize>> = Vec::new();
        for (k, &i) in comp.iter().enumerate() {
            let ns = *index
                .entry(items[i].namespace.as_deref())
                .or_insert_with(|| {
                    positions.push(Vec::new());
                    positions.len() - 1
                });
            namespace.push(ns);
            positions[ns].push(k);
        }
        let trees = positions
            .iter()
            .map(|pos| Extremes::new(&pos.iter().map(|&k| p[k]).collect::<Vec<_>>()))
            .collect();
        Finder {
            items,
            comp,
            p,
            root,
            all: Extremes::new(p),
            namespace,
            positions,
            trees,
            root_namespace: index.get(&Some(root)).copied(),
        }
    }

    fn meets(&self, a: usize, b: usize) -> bool {
        can_overlap(
            &self.items[self.comp[a]],
            &self.items[self.comp[b]],
            self.root,
        )
    }

    /// The namespaces whose SMEs can meet position `k`'s, or `None` for all.
    fn searched(&self, k: usize) -> Option<[Option<usize>; 2]> {
        let own = self.namespace[k];
        (Some(own) != self.root_namespace).then_some([Some(own), self.root_namespace])
    }

    /// The first position after `k` with a priority `>= p[k]` that meets it.
    fn next_meeting(&self, k: usize) -> Option<usize> {
        let Some(namespaces) = self.searched(k) else {
            return self.next_in(&self.all, None, k);
        };
        namespaces
            .into_iter()
            .flatten()
            .filter_map(|ns| self.next_in(&self.trees[ns], Some(&self.positions[ns]), k))
            .min()
    }

    /// The last position before `k` with a priority `<= p[k]` that meets it.
    fn prev_meeting(&self, k: usize) -> Option<usize> {
        let Some(namespaces) = self.searched(k) else {
            return self.prev_in(&self.all, None, k);
        };
        namespaces
            .into_iter()
            .flatten()
            .filter_map(|ns| self.prev_in(&self.trees[ns], Some(&self.positions[ns]), k))
            .max()
    }

    /// `positions` maps the tree's indexes to positions (`None`: the same).
    fn next_in(&self, tree: &Extremes, positions: Option<&[usize]>, k: usize) -> Option<usize> {
        let at = |i: usize| positions.map_or(i, |pos| pos[i]);
        let mut from = positions.map_or(k + 1, |pos| pos.partition_point(|&x| x <= k));
        while let Some(i) = tree.first_at_least(from, self.p[k]) {
            if self.meets(k, at(i)) {
                return Some(at(i));
            }
            from = i + 1;
        }
        None
    }

    fn prev_in(&self, tree: &Extremes, positions: Option<&[usize]>, k: usize) -> Option<usize> {
        let at = |i: usize| positions.map_or(i, |pos| pos[i]);
        let mut to = positions.map_or(k, |pos| pos.partition_point(|&x| x < k));
        while let Some(i) = tree.last_at_most(to, self.p[k]) {
            if self.meets(k, at(i)) {
                return Some(at(i));
            }
            to = i;
        }
        None
    }
}

/// A segment tree of the priorities in Maistra's order, to find the next
/// position at or above a priority (or the previous one at or below it)
/// without walking every position in between.
struct Extremes {
    len: usize,
    size: usize,
    max: Vec<i64>,
    min: Vec<i64>,
}

impl Extremes {
    fn new(p: &[i64]) -> Extremes {
        let size = p.len().next_power_of_two();
        let mut max = vec![i64::MIN; 2 * size];
        let mut min = vec![i64::MAX; 2 * size];
        for (i, &v) in p.iter().enumerate() {
            max[size + i] = v;
            min[size + i] = v;
        }
        for i in (1..size).rev() {
            max[i] = max[2 * i].max(max[2 * i + 1]);
            min[i] = min[2 * i].min(min[2 * i + 1]);
        }
        Extremes {
            len: p.len(),
            size,
            max,
            min,
        }
    }

    /// The first position `>= from` whose priority is `>= x`.
    fn first_at_least(&self, from: usize, x: i64) -> Option<usize> {
        self.first(1, 0, self.size, from, x)
    }

    fn first(&self, node: usize, lo: usize, hi: usize, from: usize, x: i64) -> Option<usize> {
        if hi <= from || lo >= self.len || self.max[node] < x {
            return None;
        }
        if hi - lo == 1 {
            return Some(lo);
        }
        let mid = (lo + hi) / 2;
        self.first(2 * node, lo, mid, from, x)
            .or_else(|| self.first(2 * node + 1, mid, hi, from, x))
    }

    /// The last position `< to` whose priority is `<= x`.
    fn last_at_most(&self, to: usize, x: i64) -> Option<usize> {
        self.last(1, 0, self.size, to, x)
    }

    fn last(&self, node: usize, lo: usize, hi: usize, to: usize, x: i64) -> Option<usize> {
        if lo >= to || lo >= self.len || self.min[node] > x {
            return None;
        }
        if hi - lo == 1 {
            return Some(lo);
        }
        let mid = (lo + hi) / 2;
        self.last(2 * node + 1, mid, hi, to, x)
            .or_else(|| self.last(2 * node, lo, mid, to, x))
    }
}

/// Positions of one longest non-increasing subsequence (O(n log n)).
fn longest_non_increasing(q: &[i128]) -> Vec<usize> {
    // tails[len-1] = position of the smallest-so-far... for non-increasing we
    // negate and look for a non-decreasing subsequence.
    let neg: Vec<i128> = q.iter().map(|v| -v).collect();
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; q.len()];
    for i in 0..neg.len() {
        // first tail whose value is > neg[i] (upper bound: non-decreasing)
        let pos = tails.partition_point(|&t| neg[t] <= neg[i]);
        if pos > 0 {
            prev[i] = Some(tails[pos - 1]);
        }
        if pos == tails.len() {
            tails.push(i);
        } else {
            tails[pos] = i;
        }
    }
    let mut out = Vec::with_capacity(tails.len());
    let mut cur = tails.last().copied();
    while let Some(i) = cur {
        out.push(i);
        cur = prev[i];
    }
    out.reverse();
    out
}

/// The pairwise implementation this module had before components were
/// built from nodes and candidates found with a segment tree: the faster
/// one must give exactly the same changes.
#[cfg(test)]
mod reference {
    use super::{can_overlap, longest_non_increasing, maistra_cmp, Change, Item, PluginPhase};

    pub fn reconcile(items: &[Item], root_namespace: &str) -> Result<Vec<Change>, String> {
        let mut changes = Vec::new();
        for phase in PluginPhase::ALL {
            let group: Vec<usize> = (0..items.len())
                .filter(|&i| items[i].plugin_phase == phase)
                .collect();
            for component in components(items, &group, root_namespace) {
                changes.extend(reconcile_component(items, component, root_namespace)?);
            }
        }
        changes.sort_by_key(|c| c.index);
        Ok(changes)
    }

    /// Connected components of the "can reach a common workload" relation.
    fn components(items: &[Item], group: &[usize], root: &str) -> Vec<Vec<usize>> {
        let mut parent: Vec<usize> = (0..group.len()).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        for a in 0..group.len() {
            for b in a + 1..group.len() {
                if can_overlap(&items[group[a]], &items[group[b]], root) {
                    let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                    if ra != rb {
                        parent[ra] = rb;
                    }
                }
            }
        }
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut slot = vec![usize::MAX; group.len()];
        for (a, &member) in group.iter().enumerate() {
            let r = find(&mut parent, a);
            if slot[r] == usize::MAX {
                slot[r] = out.len();
                out.push(Vec::new());
            }
            out[slot[r]].push(member);
        }
        out
    }

    fn reconcile_component(
        items: &[Item],
        mut comp: Vec<usize>,
        root: &str,
    ) -> Result<Vec<Change>, String> {
        comp.sort_by(|&a, &b| maistra_cmp(&items[a], &items[b], root));
        let n = comp.len();
        let p: Vec<i64> = comp.iter().map(|&i| items[i].priority).collect();
        // Nothing to do when every pair that can meet is already strictly
        // ordered by priority.
        let violated = |a: usize, b: usize| {
            p[a] <= p[b] && can_overlap(&items[comp[a]], &items[comp[b]], root)
        };
        if !(0..n).any(|a| (a + 1..n).any(|b| violated(a, b))) {
            return Ok(Vec::new());
        }
        // Keep the largest set of priorities that leaves room for the others.
        // Work on the order extended with two sentinels that stand for the
        // int32 bounds: e[0] = MAX + 1 and e[n + 1] = MIN - 1, both kept. Kept
        // positions i < j need e[i] - e[j] >= j - i, that is q[i] >= q[j] with
        // q[k] = e[k] + k: a longest non-increasing subsequence of q among the
        // positions that fit between the sentinels at all.
        let lo_bound = i128::from(i32::MIN) - 1;
        let hi_bound = i128::from(i32::MAX) + 1;
        let mut e: Vec<i128> = Vec::with_capacity(n + 2);
        e.push(hi_bound);
        e.extend(p.iter().map(|&v| i128::from(v)));
        e.push(lo_bound);
        let q = |k: usize| e[k] + k as i128;
        let eligible: Vec<usize> = (1..=n)
            .filter(|&k| q(k) <= q(0) && q(k) >= q(n + 1))
            .collect();
        let qs: Vec<i128> = eligible.iter().map(|&k| q(k)).collect();
        let mut is_kept = vec![false; n + 2];
        is_kept[0] = true;
        is_kept[n + 1] = true;
        for i in longest_non_increasing(&qs) {
            is_kept[eligible[i]] = true;
        }
        // Every moved priority goes below the one before it and high enough to
        // leave room above the next kept one, as close to the original as that
        // allows.
        let mut new = e.clone();
        for k in 1..=n {
            if is_kept[k] {
                continue;
            }
            let hi = new[k - 1] - 1;
            let j = (k + 1..n + 2)
                .find(|&j| is_kept[j])
                .expect("the last sentinel is kept");
            let lo = new[j] + (j - k) as i128;
            if lo > hi {
                return Err(format!(
                    "{} cannot be given a priority inside int32 that keeps Maistra's order; lower the priorities of the SMEs around it",
                    items[comp[k - 1]].object()
                ));
            }
            new[k] = new[k].clamp(lo, hi);
        }
        let new: Vec<i128> = new[1..=n].to_vec();
        let mut changes = Vec::new();
        for k in 0..n {
            let value = i64::try_from(new[k]).expect("kept inside int32 by the sentinels");
            if value != p[k] {
                let (partner, before) = partner_of(items, &comp, &p, k, root);
                changes.push(Change {
                    index: comp[k],
                    old: p[k],
                    new: value,
                    partner: comp[partner],
                    before,
                });
            }
        }
        Ok(changes)
    }

    /// The item whose order forced position `k` to move: one it meets and is
    /// mis-ordered with, else its neighbour in Maistra's order.
    fn partner_of(
        items: &[Item],
        comp: &[usize],
        p: &[i64],
        k: usize,
        root: &str,
    ) -> (usize, bool) {
        let meets = |m: usize| can_overlap(&items[comp[k]], &items[comp[m]], root);
        if let Some(m) = (k + 1..comp.len()).find(|&m| p[k] <= p[m] && meets(m)) {
            return (m, true);
        }
        if let Some(m) = (0..k).rev().find(|&m| p[m] <= p[k] && meets(m)) {
            return (m, false);
        }
        let n = comp.len();
        (1..n)
            .flat_map(|d| {
                [
                    (k + d < n).then(|| (k + d, true)),
                    k.checked_sub(d).map(|m| (m, false)),
                ]
            })
            .flatten()
            .find(|&(m, _)| meets(m))
            .unwrap_or(if k + 1 < n {
                (k + 1, true)
            } else {
                (k.saturating_sub(1), false)
            })
    }
}

#[cfg(test)]
mod equivalence {
    use super::*;
    use crate::conversion::mapping::PhaseMap;
    use proptest::prelude::*;

    fn item() -> impl Strategy<Value = Item> {
        let ns = prop::sample::select(vec![None, Some("a"), Some("b"), Some("root")]);
        let label = (
            prop::sample::select(vec!["app", "version", "istio"]),
            prop::sample::select(vec!["x", "y"]),
        );
        (
            ns,
            0..4usize,
            prop::sample::select(SmePhase::ALL.to_vec()),
            prop::sample::select(vec![
                0i64,
                1,
                2,
                5,
                100,
                i64::from(i32::MAX),
                i64::from(i32::MIN),
            ]),
            prop::collection::vec(label, 0..3),
        )
            .prop_map(|(ns, name, phase, priority, labels)| Item {
                namespace: ns.map(str::to_string),
                name: format!("n{name}"),
                image: "img".into(),
                sme_phase: phase,
                priority,
                selector: labels
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                plugin_phase: PhaseMap::default().get(phase),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn same_changes_as_the_pairwise_reconcile(items in prop::collection::vec(item(), 0..40)) {
            prop_assert_eq!(
                reconcile_with(&items, "root", false),
                reference::reconcile(&items, "root")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversion::mapping::PhaseMap;

    fn item(ns: &str, name: &str, phase: SmePhase, priority: i64) -> Item {
        Item {
            namespace: Some(ns.into()),
            name: name.into(),
            image: "img".into(),
            sme_phase: phase,
            priority,
            selector: vec![],
            plugin_phase: PhaseMap::default().get(phase),
        }
    }

    #[test]
    fn no_change_when_order_already_holds() {
        let items = vec![
            item("ns", "a", SmePhase::PostAuthN, 10),
            item("ns", "b", SmePhase::PreAuthZ, 5),
        ];
        assert!(reconcile(&items, "istio-system").unwrap().is_empty());
    }

    #[test]
    fn folded_phases_keep_maistra_order() {
        // PostAuthN ran before every PreAuthZ, whatever the priorities.
        let items = vec![
            item("ns", "late", SmePhase::PreAuthZ, 100),
            item("ns", "early", SmePhase::PostAuthN, 1),
        ];
        let changes = reconcile(&items, "istio-system").unwrap();
        assert_eq!(changes.len(), 1);
        let c = &changes[0];
        // One of the two moves; the result must put "early" first.
        let mut prio = [100, 1];
        prio[c.index] = c.new;
        assert!(prio[1] > prio[0], "{changes:?}");
    }

    #[test]
    fn ties_become_distinct_in_name_order() {
        let items = vec![
            item("ns", "b", SmePhase::PreAuthN, 0),
            item("ns", "a", SmePhase::PreAuthN, 0),
            item("ns", "c", SmePhase::PreAuthN, 0),
        ];
        let changes = reconcile(&items, "istio-system").unwrap();
        let mut prio = [0i64; 3];
        for c in &changes {
            prio[c.index] = c.new;
        }
        assert!(prio[1] > prio[0] && prio[0] > prio[2], "{prio:?}");
        assert_eq!(changes.len(), 2, "only two of three need to move");
    }

    #[test]
    fn separate_namespaces_need_no_change() {
        let items = vec![
            item("ns1", "a", SmePhase::PreAuthN, 0),
            item("ns2", "b", SmePhase::PreAuthN, 0),
        ];
        assert!(reconcile(&items, "istio-system").unwrap().is_empty());
        let mut disjoint = items.clone();
        disjoint[1].namespace = Some("ns1".into());
        disjoint[0].selector = vec![("app".into(), "x".into())];
        disjoint[1].selector = vec![("app".into(), "y".into())];
        assert!(reconcile(&disjoint, "istio-system").unwrap().is_empty());
        let mut root = items;
        root[1].namespace = Some("istio-system".into());
        assert_eq!(reconcile(&root, "istio-system").unwrap().len(), 1);
    }

    #[test]
    fn priorities_stay_inside_int32() {
        let items = vec![
            item("ns", "a", SmePhase::PostAuthN, i64::from(i32::MIN)),
            item("ns", "b", SmePhase::PreAuthZ, i64::from(i32::MIN)),
        ];
        // b must go below i32::MIN or a above: a can go up, so this works.
        let ch = reconcile(&items, "istio-system").unwrap();
        assert_eq!(ch[0].new, i64::from(i32::MIN) + 1);
        let items = vec![
            item("ns", "a", SmePhase::PostAuthN, i64::from(i32::MAX)),
            item("ns", "b", SmePhase::PreAuthZ, i64::from(i32::MAX)),
            item("ns", "c", SmePhase::PreAuthZ, i64::from(i32::MIN)),
        ];
        // keeping a and c leaves b room? a=MAX, c=MIN: yes, b gets MAX-1.
        let ch = reconcile(&items, "istio-system").unwrap();
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].new, i64::from(i32::MAX) - 1);
    }

    #[test]
    fn smes_that_never_meet_are_not_ordered() {
        // ns1/a and ns2/b never meet; the root namespace's r and s meet both.
        let items = vec![
            item("ns1", "a", SmePhase::PostAuthN, 1),
            item("ns2", "b", SmePhase::PreAuthZ, 10),
            item("istio-system", "r", SmePhase::PreAuthZ, 0),
            item("istio-system", "s", SmePhase::PreAuthZ, 0),
        ];
        let changes = reconcile(&items, "istio-system").unwrap();
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!((changes[0].index, changes[0].new), (3, -1));
        // Its partner is one it meets.
        assert!(can_overlap(
            &items[changes[0].index],
            &items[changes[0].partner],
            "istio-system"
        ));
        // The chain method orders all four and moves two.
        assert_eq!(
            reconcile_with(&items, "istio-system", false).unwrap().len(),
            2
        );
    }

    #[test]
    fn lnis() {
        assert_eq!(longest_non_increasing(&[5, 3, 4, 3, 1]), vec![0, 2, 3, 4]);
        assert_eq!(longest_non_increasing(&[1, 2, 3]).len(), 1);
    }
}
