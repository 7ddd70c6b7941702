//! Label selectors, through ListNodes (ListJobs uses the same rules; see `listing`).

use offchain::proto::label::{Selector, SelectorOp};

use crate::support::*;

/// One node per kind of label on key `env`.
struct Fixture {
    /// `env=prod`, `tier=1`
    prod: String,
    /// `env=test`
    test: String,
    /// `env` without a value
    bare: String,
    /// `env=""`
    empty: String,
    /// no labels
    none: String,
}

impl Fixture {
    async fn new(c: &Ctx) -> Self {
        let id = |node: offchain::proto::node::Node| node.id;
        Fixture {
            prod: id(
                register_node(c, "prod", vec![label("env", "prod"), label("tier", "1")]).await,
            ),
            test: id(register_node(c, "test", vec![label("env", "test")]).await),
            bare: id(register_node(c, "bare", vec![flag("env")]).await),
            empty: id(register_node(c, "empty", vec![label("env", "")]).await),
            none: id(register_node(c, "none", vec![]).await),
        }
    }

    /// Asserts that each selector list selects exactly `expected` (in creation order).
    async fn check(&self, c: &Ctx, cases: Vec<(Vec<Selector>, Vec<&String>)>) {
        for (selectors, expected) in cases {
            let expected: Vec<String> = expected.into_iter().cloned().collect();
            let got = nodes_selected(c, selectors.clone()).await;
            assert_eq!(got, expected, "{selectors:?} ({})", self.legend());
        }
    }

    fn legend(&self) -> String {
        format!(
            "prod={} test={} bare={} empty={} none={}",
            self.prod, self.test, self.bare, self.empty, self.none
        )
    }
}

fn one(key: &str, op: SelectorOp, value: Option<&str>) -> Vec<Selector> {
    vec![selector(key, op, value)]
}

pub async fn selector_eq_and_not_eq(c: Ctx) {
    let f = Fixture::new(&c).await;
    use SelectorOp::{Eq, NotEq};
    f.check(
        &c,
        vec![
            (one("env", Eq, Some("prod")), vec![&f.prod]),
            (one("env", Eq, Some("")), vec![&f.empty]),
            (one("env", Eq, Some("staging")), vec![]),
            (one("env", Eq, None), vec![]),
            (one("zone", Eq, Some("prod")), vec![]),
            // A missing key or value never matches, also for NOT_EQ.
            (one("env", NotEq, Some("prod")), vec![&f.test, &f.empty]),
            (one("env", NotEq, Some("")), vec![&f.prod, &f.test]),
            (one("env", NotEq, None), vec![]),
            (one("zone", NotEq, Some("x")), vec![]),
        ],
    )
    .await;
}

pub async fn selector_in_and_not_in(c: Ctx) {
    let f = Fixture::new(&c).await;
    use SelectorOp::{In, NotIn};
    f.check(
        &c,
        vec![
            (one("env", In, Some("prod,test")), vec![&f.prod, &f.test]),
            (
                one("env", In, Some("  prod ,   test  ")),
                vec![&f.prod, &f.test],
            ),
            (one("env", In, Some("staging, prod")), vec![&f.prod]),
            (one("env", In, Some("prod test")), vec![]),
            (one("env", In, Some("staging")), vec![]),
            (one("env", In, None), vec![]),
            (one("zone", In, Some("prod,test")), vec![]),
            (
                one("env", NotIn, Some(" prod , staging")),
                vec![&f.test, &f.empty],
            ),
            (
                one("env", NotIn, Some("staging")),
                vec![&f.prod, &f.test, &f.empty],
            ),
            (one("env", NotIn, None), vec![]),
            (one("zone", NotIn, Some("prod")), vec![]),
        ],
    )
    .await;
}

pub async fn selector_exist_and_not_exist(c: Ctx) {
    let f = Fixture::new(&c).await;
    use SelectorOp::{Exist, NotExist};
    let with_env = vec![&f.prod, &f.test, &f.bare, &f.empty];
    let everyone = vec![&f.prod, &f.test, &f.bare, &f.empty, &f.none];
    f.check(
        &c,
        vec![
            (one("env", Exist, None), with_env),
            (one("tier", Exist, None), vec![&f.prod]),
            (one("zone", Exist, None), vec![]),
            (one("env", NotExist, None), vec![&f.none]),
            (
                one("tier", NotExist, None),
                vec![&f.test, &f.bare, &f.empty, &f.none],
            ),
            (one("zone", NotExist, None), everyone),
        ],
    )
    .await;
}

pub async fn selector_unknown_op_matches_nothing(c: Ctx) {
    let f = Fixture::new(&c).await;
    let unknown = |key: &str, op: i32, value: Option<&str>| {
        vec![Selector {
            key: key.into(),
            op,
            value: value.map(Into::into),
        }]
    };
    f.check(
        &c,
        vec![
            (unknown("env", 42, Some("prod")), vec![]),
            (unknown("env", 42, None), vec![]),
            (unknown("zone", 42, None), vec![]),
            (unknown("env", -1, Some("prod")), vec![]),
            (unknown("env", 6, None), vec![]),
        ],
    )
    .await;
}

pub async fn selectors_are_anded(c: Ctx) {
    let f = Fixture::new(&c).await;
    use SelectorOp::{Eq, Exist, In, NotEq, NotExist};
    f.check(
        &c,
        vec![
            (vec![], vec![&f.prod, &f.test, &f.bare, &f.empty, &f.none]),
            (
                vec![
                    selector("env", In, Some("prod,test")),
                    selector("tier", Exist, None),
                ],
                vec![&f.prod],
            ),
            (
                vec![
                    selector("env", NotEq, Some("prod")),
                    selector("tier", NotExist, None),
                ],
                vec![&f.test, &f.empty],
            ),
            (
                vec![
                    selector("env", Exist, None),
                    selector("env", NotExist, None),
                ],
                vec![],
            ),
            (
                vec![
                    selector("env", Eq, Some("prod")),
                    selector("tier", Eq, Some("2")),
                ],
                vec![],
            ),
        ],
    )
    .await;
}
