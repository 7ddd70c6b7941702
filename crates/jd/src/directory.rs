//! An in-memory snapshot of every node, so `ListNodes` with selectors over thousands of
//! nodes costs one tiny query (the generation counter) plus a few set operations in memory:
//! the snapshot indexes the nodes by label, and a selector becomes a bit set of the nodes it
//! matches (see [`NodeSnapshot::select`]), with exactly the rules of [`crate::selector`].
//!
//! Every node write bumps a counter in the database in the same transaction; a snapshot
//! remembers the counter it was loaded at and is reloaded when the counter moved. This keeps
//! several JD replicas over one PostgreSQL database correct, not just one process.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use offchain_proto::label::{Label, Selector, SelectorOp};
use offchain_proto::node::Node;

use crate::store::{Store, StoreError, StoreResult};

/// Every node at one generation, in creation order.
#[derive(Debug, Default)]
pub(crate) struct NodeSnapshot {
    generation: i64,
    pub(crate) nodes: Vec<Node>,
    by_id: HashMap<String, usize>,
    by_public_key: HashMap<String, usize>,
    by_label: HashMap<String, KeyIndex>,
}

/// The nodes carrying one label key, as ascending positions in [`NodeSnapshot::nodes`].
/// Like the selector rules, only a node's first label with the key counts.
#[derive(Debug, Default)]
struct KeyIndex {
    /// The key is present (with or without a value).
    present: Vec<u32>,
    /// The key is present with a value.
    valued: Vec<u32>,
    /// The key is present with this value.
    by_value: HashMap<String, Vec<u32>>,
}

impl NodeSnapshot {
    fn new(generation: i64, nodes: Vec<Node>) -> Self {
        let by_id = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.clone(), i))
            .collect();
        let by_public_key = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.public_key.clone(), i))
            .collect();
        let mut by_label: HashMap<String, KeyIndex> = HashMap::new();
        for (position, node) in nodes.iter().enumerate() {
            // Positions fit: a snapshot of more than 4 billion nodes is not a concern.
            let position = position as u32;
            for label in first_of_each_key(&node.labels) {
                let index = by_label.entry(label.key.clone()).or_default();
                index.present.push(position);
                if let Some(value) = &label.value {
                    index.valued.push(position);
                    index
                        .by_value
                        .entry(value.clone())
                        .or_default()
                        .push(position);
                }
            }
        }
        NodeSnapshot {
            generation,
            nodes,
            by_id,
            by_public_key,
            by_label,
        }
    }

    /// The nodes matching every one of `selectors`, in creation order.
    pub(crate) fn select<'s>(&'s self, selectors: &[Selector]) -> impl Iterator<Item = &'s Node> {
        let mut matching = Bits::all(self.nodes.len());
        for selector in selectors {
            matching.and(&self.selector_bits(selector));
        }
        matching.ones().map(move |i| &self.nodes[i])
    }

    /// The nodes matching `selector`; the same rules as [`crate::selector::matches`].
    fn selector_bits(&self, selector: &Selector) -> Bits {
        let n = self.nodes.len();
        let index = self.by_label.get(&selector.key);
        let present = index.map_or(&[][..], |k| &k.present[..]);
        let valued = index.map_or(&[][..], |k| &k.valued[..]);
        let with_value = |value: &str| {
            index
                .and_then(|k| k.by_value.get(value))
                .map_or(&[][..], |p| &p[..])
        };
        let Ok(op) = SelectorOp::try_from(selector.op) else {
            return Bits::none(n);
        };
        match op {
            SelectorOp::Exist => Bits::of(n, present),
            SelectorOp::NotExist => {
                let mut bits = Bits::all(n);
                bits.and_not(&Bits::of(n, present));
                bits
            }
            SelectorOp::Eq | SelectorOp::NotEq | SelectorOp::In | SelectorOp::NotIn => {
                // A missing key, a missing label value or a missing selector value never
                // matches, not even for the negated forms.
                let Some(want) = selector.value.as_deref() else {
                    return Bits::none(n);
                };
                let mut hits = Bits::none(n);
                match op {
                    SelectorOp::Eq | SelectorOp::NotEq => hits.set(with_value(want)),
                    _ => want
                        .split(',')
                        .for_each(|item| hits.set(with_value(item.trim()))),
                }
                match op {
                    SelectorOp::Eq | SelectorOp::In => hits,
                    _ => {
                        let mut bits = Bits::of(n, valued);
                        bits.and_not(&hits);
                        bits
                    }
                }
            }
        }
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<&Node> {
        self.by_id.get(id).map(|&i| &self.nodes[i])
    }

    pub(crate) fn by_public_key(&self, key: &str) -> Option<&Node> {
        self.by_public_key.get(key).map(|&i| &self.nodes[i])
    }
}

/// The first label of each key in `labels`, in order (the one the selector rules look at).
/// Linear in the number of labels, however many a stored node has.
fn first_of_each_key(labels: &[Label]) -> impl Iterator<Item = &Label> {
    let mut seen = HashSet::with_capacity(labels.len());
    labels.iter().filter(move |l| seen.insert(l.key.as_str()))
}

/// A set of node positions.
struct Bits(Vec<u64>);

impl Bits {
    fn none(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }

    fn all(n: usize) -> Self {
        let mut words = vec![u64::MAX; n.div_ceil(64)];
        if let Some(last) = words.last_mut()
            && !n.is_multiple_of(64)
        {
            *last = (1u64 << (n % 64)) - 1;
        }
        Bits(words)
    }

    fn of(n: usize, positions: &[u32]) -> Self {
        let mut bits = Bits::none(n);
        bits.set(positions);
        bits
    }

    fn set(&mut self, positions: &[u32]) {
        for &p in positions {
            self.0[p as usize / 64] |= 1 << (p % 64);
        }
    }

    fn and(&mut self, other: &Bits) {
        self.0.iter_mut().zip(&other.0).for_each(|(a, b)| *a &= b);
    }

    fn and_not(&mut self, other: &Bits) {
        self.0.iter_mut().zip(&other.0).for_each(|(a, b)| *a &= !b);
    }

    /// The positions in the set, ascending.
    fn ones(self) -> impl Iterator<Item = usize> {
        self.0.into_iter().enumerate().flat_map(|(w, word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    w * 64 + bit
                })
            })
        })
    }
}

/// The current node snapshot, reloaded on demand.
#[derive(Debug)]
pub(crate) struct NodeDirectory {
    snapshot: RwLock<Arc<NodeSnapshot>>,
    reload: tokio::sync::Mutex<()>,
}

impl NodeDirectory {
    pub(crate) fn new() -> Self {
        let empty = NodeSnapshot {
            generation: -1,
            ..Default::default()
        };
        NodeDirectory {
            snapshot: RwLock::new(Arc::new(empty)),
            reload: Default::default(),
        }
    }

    fn cached(&self) -> Arc<NodeSnapshot> {
        match self.snapshot.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A snapshot at least as new as the database's current generation.
    pub(crate) async fn current(&self, store: &Store) -> StoreResult<Arc<NodeSnapshot>> {
        let generation = store.nodes_generation().await?;
        let cached = self.cached();
        if cached.generation >= generation {
            return Ok(cached);
        }
        // One caller reloads; the others wait and take its result.
        let _reloading = self.reload.lock().await;
        let cached = self.cached();
        if cached.generation >= generation {
            return Ok(cached);
        }
        // Read the counter before the rows: the rows are then at least that new.
        let generation = store.nodes_generation().await?;
        let rows = store.node_rows().await?;
        // Decoding and indexing cost time in proportion to every label of every node: done
        // on a blocking thread, so the async workers keep serving other calls meanwhile.
        let build = move || {
            rows.decode()
                .map(|nodes| NodeSnapshot::new(generation, nodes))
        };
        let fresh = Arc::new(
            tokio::task::spawn_blocking(build)
                .await
                .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))??,
        );
        match self.snapshot.write() {
            Ok(mut guard) => *guard = fresh.clone(),
            Err(poisoned) => *poisoned.into_inner() = fresh.clone(),
        }
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::matches_all;
    use proptest::strategy::Strategy;

    const KEYS: [&str; 5] = ["env", "region", "flag", "dup", "missing"];
    const VALUES: [Option<&str>; 6] = [
        None,
        Some("prod"),
        Some("test"),
        Some(""),
        Some(" prod"),
        Some("eu"),
    ];

    /// 150 nodes (three bit-set words, the last one partial) with pseudo-random label sets,
    /// including value-less labels, empty values and repeated keys.
    fn snapshot() -> NodeSnapshot {
        let mut seed = 7u64;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let nodes = (0..150)
            .map(|i| {
                let labels = (0..next(5))
                    .map(|_| Label {
                        key: KEYS[next(4)].to_string(),
                        value: VALUES[next(VALUES.len())].map(str::to_string),
                    })
                    .collect();
                Node {
                    id: format!("node_{i}"),
                    public_key: format!("{i:064x}"),
                    labels,
                    ..Default::default()
                }
            })
            .collect();
        NodeSnapshot::new(1, nodes)
    }

    fn selectors() -> Vec<Selector> {
        let values = [
            None,
            Some("prod"),
            Some("test"),
            Some(""),
            Some(" prod"),
            Some("prod,test"),
            Some(" prod , eu"),
            Some("prod,"),
            Some(","),
        ];
        let mut all = Vec::new();
        for key in KEYS {
            for op in [0, 1, 2, 3, 4, 5, 42, -1] {
                for value in values {
                    all.push(Selector {
                        key: key.to_string(),
                        op,
                        value: value.map(str::to_string),
                    });
                }
            }
        }
        all
    }

    fn by_scan<'a>(snapshot: &'a NodeSnapshot, selectors: &[Selector]) -> Vec<&'a str> {
        snapshot
            .nodes
            .iter()
            .filter(|n| matches_all(&n.labels, selectors))
            .map(|n| n.id.as_str())
            .collect()
    }

    fn by_index<'a>(snapshot: &'a NodeSnapshot, selectors: &[Selector]) -> Vec<&'a str> {
        snapshot.select(selectors).map(|n| n.id.as_str()).collect()
    }

    #[test]
    fn index_agrees_with_the_selector_rules() {
        let snapshot = snapshot();
        let selectors = selectors();
        let mut non_trivial = 0;
        for selector in &selectors {
            let one = std::slice::from_ref(selector);
            let expected = by_scan(&snapshot, one);
            if !expected.is_empty() && expected.len() < snapshot.nodes.len() {
                non_trivial += 1;
            }
            assert_eq!(by_index(&snapshot, one), expected, "{selector:?}");
        }
        assert!(non_trivial > 50, "the data must exercise the rules");
        // Pairs are ANDed.
        for (i, a) in selectors.iter().enumerate().step_by(7) {
            for b in selectors.iter().skip(i % 5).step_by(11) {
                let pair = [a.clone(), b.clone()];
                assert_eq!(
                    by_index(&snapshot, &pair),
                    by_scan(&snapshot, &pair),
                    "{pair:?}"
                );
            }
        }
        assert_eq!(
            by_index(&snapshot, &[]).len(),
            150,
            "no selector: every node"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 500,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x0d1e_c702),
            ..Default::default()
        })]

        /// Selectors arrive as protobuf: any key, operator number and value text. The
        /// index never panics and answers as the scan does (issue 11, item 4).
        #[test]
        fn index_agrees_with_the_scan_for_any_selectors(
            raw in proptest::collection::vec(
                (
                    proptest::prop_oneof![proptest::sample::select(KEYS.to_vec()).prop_map(str::to_owned), ".{0,4}"],
                    -2i32..8,
                    proptest::option::of(proptest::prop_oneof![
                        proptest::sample::select(VALUES.to_vec()).prop_map(|v| v.unwrap_or("").to_owned()),
                        "[a-z, ]{0,10}",
                    ]),
                ),
                0..3,
            )
        ) {
            let selectors: Vec<Selector> = raw
                .into_iter()
                .map(|(key, op, value)| Selector { key, op, value })
                .collect();
            let snapshot = snapshot();
            proptest::prop_assert_eq!(by_index(&snapshot, &selectors), by_scan(&snapshot, &selectors));
        }
    }

    /// A rebuild of many nodes with many labels must leave the async runtime free: on a
    /// current-thread runtime (where a blocking rebuild would starve every other task), a
    /// ticker keeps ticking through it. The longest pause between ticks must stay a small
    /// part of the rebuild (a rebuild on the runtime thread makes it nearly all of it).
    #[tokio::test(flavor = "current_thread")]
    async fn a_large_rebuild_does_not_block_the_runtime() {
        use std::time::{Duration, Instant};

        let store = Store::open(crate::store::SQLITE_MEMORY_URL).await.unwrap();
        for i in 0..4000 {
            let labels = (0..64)
                .map(|l| {
                    Label::new(
                        format!("key-{l:02}-{:08}", i % 50),
                        format!("value-{i}-{l}"),
                    )
                })
                .collect();
            let node = Node {
                id: format!("node_{i:06}"),
                public_key: format!("{i:064x}"),
                labels,
                ..Default::default()
            };
            store.insert_node(&node).await.unwrap();
        }
        let directory = NodeDirectory::new();
        let done = std::sync::atomic::AtomicBool::new(false);
        let ticker = async {
            let mut longest = Duration::ZERO;
            let mut last = Instant::now();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1)).await;
                longest = longest.max(last.elapsed());
                last = Instant::now();
            }
            longest
        };
        let rebuild = async {
            let started = Instant::now();
            let snapshot = directory.current(&store).await.unwrap();
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            (snapshot, started.elapsed())
        };
        let (longest_pause, (snapshot, took)) = tokio::join!(ticker, rebuild);
        assert_eq!(snapshot.nodes.len(), 4000);
        eprintln!("rebuild {took:?}, longest pause of the runtime {longest_pause:?}");
        assert!(
            longest_pause * 4 < took,
            "the runtime stalled for {longest_pause:?} of a {took:?} rebuild"
        );
    }

    #[test]
    fn only_the_first_label_of_a_key_counts() {
        let labels = [
            Label::new("a", "1"),
            Label::flag("b"),
            Label::new("a", "2"),
            Label::new("c", "3"),
        ];
        let firsts: Vec<_> = first_of_each_key(&labels)
            .map(|l| (l.key.as_str(), l.value.as_deref()))
            .collect();
        assert_eq!(firsts, [("a", Some("1")), ("b", None), ("c", Some("3"))]);
    }

    #[test]
    fn bit_sets_handle_word_edges() {
        for n in [0, 1, 63, 64, 65, 128] {
            assert_eq!(Bits::all(n).ones().count(), n);
            assert_eq!(Bits::none(n).ones().count(), 0);
            if n > 0 {
                let edges = [0, (n - 1) as u32];
                let got: Vec<usize> = Bits::of(n, &edges).ones().collect();
                assert_eq!(got.first(), Some(&0));
                assert_eq!(got.last(), Some(&(n - 1)));
            }
        }
        let empty = NodeSnapshot::new(0, Vec::new());
        let exist = Selector {
            key: "env".into(),
            op: SelectorOp::NotExist as i32,
            value: None,
        };
        assert_eq!(empty.select(&[exist]).count(), 0);
    }
}
