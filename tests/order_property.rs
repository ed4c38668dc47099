//! The order property (SPEC §5): for random sets of SMEs, a model of
//! Maistra's filter chain and a model of Istio's, fed the converted
//! priorities, give the same order on every workload.
//!
//! Both chain models are written here from the specification, independent
//! of the code under test, which only supplies the new priorities.

use proptest::prelude::*;
use sme2wasm::conversion::mapping::{PhaseMap, PluginPhase, SmePhase};
use sme2wasm::conversion::order::{reconcile, Item};

const ROOT: &str = "istio-system";
const NAMESPACES: [&str; 3] = [ROOT, "shop", "batch"];
const NAMES: [&str; 5] = ["auth", "authz", "b", "stats", "a-x"];
const IMAGES: [&str; 3] = ["quay.io/x/a:1", "quay.io/x/b:1", "r.example/c:2"];
const VALUES: [&str; 2] = ["x", "y"];

#[derive(Debug, Clone)]
struct Sme {
    ns: usize,
    name: usize,
    image: usize,
    phase: usize,
    priority: i64,
    app: Option<usize>,
    tier: Option<usize>,
    created: u32,
}

fn sme() -> impl Strategy<Value = Sme> {
    (
        0..3usize,
        0..5usize,
        0..3usize,
        0..6usize,
        -3i64..4,
        proptest::option::of(0..2usize),
        proptest::option::of(0..2usize),
        any::<u32>(),
    )
        .prop_map(
            |(ns, name, image, phase, priority, app, tier, created)| Sme {
                ns,
                name,
                image,
                phase,
                priority,
                app,
                tier,
                created,
            },
        )
}

/// A phase table that keeps Maistra's phase order (any other table is
/// refused with a warning, since no priority can repair it).
fn monotone_table() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..4usize, 6).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

fn selector(s: &Sme) -> Vec<(String, String)> {
    let mut sel = Vec::new();
    if let Some(a) = s.app {
        sel.push(("app".to_string(), VALUES[a].to_string()));
    }
    if let Some(t) = s.tier {
        sel.push(("tier".to_string(), VALUES[t].to_string()));
    }
    sel
}

struct Workload {
    ns: usize,
    app: Option<usize>,
    tier: Option<usize>,
}

fn applies(s: &Sme, w: &Workload) -> bool {
    (s.ns == w.ns || NAMESPACES[s.ns] == ROOT)
        && s.app.is_none_or(|a| w.app == Some(a))
        && s.tier.is_none_or(|t| w.tier == Some(t))
}

fn workloads() -> Vec<Workload> {
    let mut out = Vec::new();
    for ns in 0..3 {
        for app in [None, Some(0), Some(1)] {
            for tier in [None, Some(0), Some(1)] {
                out.push(Workload { ns, app, tier });
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn istio_chain_reproduces_maistra_chain(
        mut smes in proptest::collection::vec(sme(), 0..12),
        table in monotone_table(),
        root_first in any::<bool>(),
    ) {
        // Kubernetes names are unique per namespace.
        let mut seen = std::collections::HashSet::new();
        smes.retain(|s| seen.insert((s.ns, s.name)));
        let overrides: Vec<String> = SmePhase::ALL
            .iter()
            .zip(&table)
            .map(|(p, t)| format!("{}={}", p, PluginPhase::ALL[*t]))
            .collect();
        let map = PhaseMap::with_overrides(&overrides).unwrap();
        let items: Vec<Item> = smes
            .iter()
            .map(|s| Item {
                namespace: Some(NAMESPACES[s.ns].to_string()),
                name: NAMES[s.name].to_string(),
                image: IMAGES[s.image].to_string(),
                sme_phase: SmePhase::ALL[s.phase],
                priority: s.priority,
                selector: selector(s),
                plugin_phase: map.get(SmePhase::ALL[s.phase]),
            })
            .collect();
        let changes = reconcile(&items, ROOT).unwrap();
        let mut priority: Vec<i64> = smes.iter().map(|s| s.priority).collect();
        for c in &changes {
            prop_assert_eq!(priority[c.index], c.old);
            priority[c.index] = c.new;
        }
        for w in workloads() {
            let mut maistra: Vec<usize> = (0..smes.len()).filter(|&i| applies(&smes[i], &w)).collect();
            let mut istio = maistra.clone();
            // Maistra: phase band, priority descending, name + image
            // ascending; a stable sort over root-namespace SMEs first.
            let not_root = |s: &Sme| NAMESPACES[s.ns] != ROOT;
            maistra.sort_by(|&a, &b| {
                let (x, y) = (&smes[a], &smes[b]);
                x.phase
                    .cmp(&y.phase)
                    .then(y.priority.cmp(&x.priority))
                    .then_with(|| {
                        format!("{}{}", NAMES[x.name], IMAGES[x.image])
                            .cmp(&format!("{}{}", NAMES[y.name], IMAGES[y.image]))
                    })
                    .then(not_root(x).cmp(&not_root(y)))
            });
            // Istio: phase, priority descending, then insertion order: root
            // namespace first before 1.20, the workload's namespace first
            // from 1.20 on; then creation time and name.
            istio.sort_by(|&a, &b| {
                let (x, y) = (&smes[a], &smes[b]);
                let phase = |s: &Sme| table[s.phase];
                let ns_rank = |s: &Sme| not_root(s) != root_first;
                phase(x)
                    .cmp(&phase(y))
                    .then(priority[b].cmp(&priority[a]))
                    .then(ns_rank(x).cmp(&ns_rank(y)))
                    .then(x.created.cmp(&y.created))
                    .then_with(|| {
                        format!("{}.{}", NAMES[x.name], NAMESPACES[x.ns])
                            .cmp(&format!("{}.{}", NAMES[y.name], NAMESPACES[y.ns]))
                    })
            });
            prop_assert_eq!(&maistra, &istio, "workload ns={} app={:?} tier={:?}; priorities {:?}", NAMESPACES[w.ns], w.app, w.tier, priority);
        }
        // Every written priority fits the WasmPlugin's int32.
        for c in &changes {
            prop_assert!(i32::try_from(c.new).is_ok());
        }
    }
}

#[test]
fn an_order_that_already_holds_is_left_alone() {
    let items: Vec<Item> = [
        (SmePhase::PostAuthN, 9),
        (SmePhase::PreAuthZ, 5),
        (SmePhase::PreAuthZ, 4),
    ]
    .iter()
    .enumerate()
    .map(|(i, (p, prio))| Item {
        namespace: Some("shop".into()),
        name: format!("e{i}"),
        image: "img".into(),
        sme_phase: *p,
        priority: *prio,
        selector: vec![],
        plugin_phase: PhaseMap::default().get(*p),
    })
    .collect();
    assert!(reconcile(&items, ROOT).unwrap().is_empty());
}

/// The fewest priorities to change, found by trying every assignment of
/// small values: for every pair of SMEs in one WasmPlugin phase that can
/// meet on a workload, the one Maistra ran first must get the higher
/// priority. Written from the specification, independent of the code.
fn brute_force_fewest_changes(items: &[Item]) -> usize {
    let n = items.len();
    // Where each phase sat in Maistra's chain (SPEC §4).
    let place = |p: SmePhase| match p {
        SmePhase::PreAuthN => 0,
        SmePhase::PostAuthN => 1,
        SmePhase::PreAuthZ => 2,
        SmePhase::PostAuthZ => 3,
        SmePhase::PreStats => 4,
        SmePhase::PostStats => 5,
    };
    // Maistra ran a before b: the chain's phase order, then priority
    // descending, then name + image, then the root namespace first.
    let first = |a: &Item, b: &Item| {
        let key = |i: &Item| {
            (
                place(i.sme_phase),
                -i.priority,
                format!("{}{}", i.name, i.image),
                i.namespace.as_deref() != Some(ROOT),
            )
        };
        key(a) < key(b)
    };
    let meet = |a: &Item, b: &Item| {
        let ns_ok = a.namespace == b.namespace
            || a.namespace.as_deref() == Some(ROOT)
            || b.namespace.as_deref() == Some(ROOT);
        let sel_ok = a
            .selector
            .iter()
            .all(|(k, v)| b.selector.iter().all(|(k2, v2)| k != k2 || v == v2));
        ns_ok && sel_ok && a.plugin_phase == b.plugin_phase
    };
    let mut pairs = Vec::new();
    for a in 0..n {
        for b in 0..n {
            if a != b && meet(&items[a], &items[b]) && first(&items[a], &items[b]) {
                pairs.push((a, b));
            }
        }
    }
    let lo = items.iter().map(|i| i.priority).min().unwrap_or(0) - n as i64;
    let hi = items.iter().map(|i| i.priority).max().unwrap_or(0) + n as i64;
    let width = (hi - lo + 1) as usize;
    let mut best = n;
    let mut values = vec![0i64; n];
    for code in 0..width.pow(n as u32) {
        let mut c = code;
        for v in values.iter_mut() {
            *v = lo + (c % width) as i64;
            c /= width;
        }
        if pairs.iter().all(|&(a, b)| values[a] > values[b]) {
            let changed = (0..n).filter(|&k| values[k] != items[k].priority).count();
            best = best.min(changed);
        }
    }
    best
}

fn small_item(ns: usize, phase: SmePhase, priority: i64, app: Option<&str>, name: usize) -> Item {
    Item {
        namespace: Some([ROOT, "ns1", "ns2"][ns].to_string()),
        name: format!("e{name}"),
        image: "quay.io/x/a:1".into(),
        sme_phase: phase,
        priority,
        selector: app
            .map(|a| vec![("app".to_string(), a.to_string())])
            .unwrap_or_default(),
        plugin_phase: PhaseMap::default().get(phase),
    }
}

fn changes_made(items: &[Item]) -> usize {
    let changes = reconcile(items, ROOT).expect("small priorities fit int32");
    changes.len()
}

#[test]
fn changes_are_as_few_as_a_brute_force_search_finds_on_every_small_case() {
    // Every set of three SMEs over: the root namespace or one of two
    // others, PostAuthN or PreAuthZ (both AUTHZ), priority 0 or 1, no
    // selector or app=x or app=y.
    let phases = [SmePhase::PostAuthN, SmePhase::PreAuthZ];
    let apps = [None, Some("x"), Some("y")];
    let mut one = Vec::new();
    for ns in 0..3 {
        for &phase in &phases {
            for priority in 0..2 {
                for &app in &apps {
                    one.push((ns, phase, priority, app));
                }
            }
        }
    }
    let mut cases = 0;
    for a in &one {
        for b in &one {
            for c in &one {
                let items: Vec<Item> = [a, b, c]
                    .iter()
                    .enumerate()
                    .map(|(i, &&(ns, phase, priority, app))| {
                        small_item(ns, phase, priority, app, i)
                    })
                    .collect();
                let got = changes_made(&items);
                let best = brute_force_fewest_changes(&items);
                assert_eq!(got, best, "{items:#?}");
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 36 * 36 * 36);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn changes_are_as_few_as_a_brute_force_search_finds_on_four_smes(
        spec in proptest::collection::vec((0..3usize, 0..4usize, 0i64..3, 0..3usize), 4)
    ) {
        let phases = [SmePhase::PostAuthN, SmePhase::PreAuthZ, SmePhase::PostAuthZ, SmePhase::PreStats];
        let apps = [None, Some("x"), Some("y")];
        let items: Vec<Item> = spec
            .iter()
            .enumerate()
            .map(|(i, &(ns, phase, priority, app))| small_item(ns, phases[phase], priority, apps[app], i))
            .collect();
        prop_assert_eq!(changes_made(&items), brute_force_fewest_changes(&items));
    }
}

#[test]
fn last_times_example_changes_one_priority() {
    let items = vec![
        small_item(1, SmePhase::PostAuthN, 1, None, 0),
        small_item(2, SmePhase::PreAuthZ, 10, None, 1),
        small_item(0, SmePhase::PreAuthZ, 0, None, 2),
        small_item(0, SmePhase::PreAuthZ, 0, None, 3),
    ];
    let changes = reconcile(&items, ROOT).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(brute_force_fewest_changes(&items), 1);
}
