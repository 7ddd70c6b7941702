//! RegisterNode, GetNode, UpdateNode, Enable/DisableNode and ListNodes.

use offchain::proto::label::SelectorOp;
use offchain::proto::node::{
    DisableNodeRequest, EnableNodeRequest, EnableState, GetNodeRequest, ListNodesRequest, Node,
    RegisterNodeRequest, UpdateNodeRequest, list_nodes_request,
};
use tonic::Code;

use crate::support::*;

const MISSING_NODE: &str = "node_01jzzzzzzzzzzzzzzzzzzzzzzz";

async fn get_by_id(c: &Ctx, id: &str) -> Result<Node, tonic::Status> {
    let request = GetNodeRequest {
        id: id.into(),
        public_key: None,
    };
    Ok(c.get_node(request).await?.node.unwrap())
}

async fn get_by_key(c: &Ctx, key: &str) -> Result<Node, tonic::Status> {
    let request = GetNodeRequest {
        id: String::new(),
        public_key: Some(key.into()),
    };
    Ok(c.get_node(request).await?.node.unwrap())
}

async fn total(c: &Ctx) -> i32 {
    c.list_nodes(ListNodesRequest::default())
        .await
        .unwrap()
        .total_count
}

async fn set_enabled(c: &Ctx, id: &str, enabled: bool) -> Result<Node, tonic::Status> {
    let id = id.to_string();
    Ok(if enabled {
        c.enable_node(EnableNodeRequest { id }).await?.node.unwrap()
    } else {
        c.disable_node(DisableNodeRequest { id })
            .await?
            .node
            .unwrap()
    })
}

pub async fn register_node_validates_input(c: Ctx) {
    let good = public_key();
    let cases = [
        ("empty name", "", good.clone()),
        ("blank name", "   ", good.clone()),
        ("empty key", "n", String::new()),
        ("63 hex digits", "n", good[1..].to_string()),
        ("65 hex digits", "n", format!("{good}0")),
        ("not hex", "n", "g".repeat(64)),
        ("0x prefix", "n", format!("0x{}", &good[2..])),
        ("base64-ish", "n", format!("{}==", "A".repeat(42))),
    ];
    for (what, name, key) in cases {
        let result = c
            .register_node(RegisterNodeRequest {
                name: name.into(),
                public_key: key,
                labels: vec![],
            })
            .await;
        let status = result.expect_err(what);
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    }
    assert_eq!(total(&c).await, 0, "nothing registered");
}

pub async fn register_node_is_enabled_and_not_connected(c: Ctx) {
    let labels = vec![label("env", "prod"), flag("bootstrap")];
    let key = public_key();
    let node = c
        .register_node(RegisterNodeRequest {
            name: "alpha".into(),
            public_key: key.clone(),
            labels: labels.clone(),
        })
        .await
        .unwrap()
        .node
        .unwrap();
    assert_server_id(&node.id, "node");
    assert_eq!(node.name, "alpha");
    assert_eq!(node.public_key, key);
    assert_eq!(node.labels, labels);
    assert!(node.is_enabled, "new nodes are enabled");
    assert!(!node.is_connected, "new nodes are not connected");
    assert!(node.created_at.is_some() && node.updated_at.is_some());
    assert_eq!(get_by_id(&c, &node.id).await.unwrap(), node);
}

pub async fn register_duplicate_public_key_is_already_exists(c: Ctx) {
    let first = register_node(&c, "first", vec![]).await;
    for key in [
        first.public_key.clone(),
        first.public_key.to_ascii_uppercase(),
    ] {
        let result = c
            .register_node(RegisterNodeRequest {
                name: "second".into(),
                public_key: key,
                labels: vec![],
            })
            .await;
        assert_status(result, Code::AlreadyExists, "");
    }
    assert_eq!(total(&c).await, 1);
    assert_eq!(get_by_id(&c, &first.id).await.unwrap().name, "first");
}

pub async fn get_node_by_id_or_public_key(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    register_node(&c, "b", vec![]).await;
    assert_eq!(get_by_id(&c, &node.id).await.unwrap(), node);
    assert_eq!(get_by_key(&c, &node.public_key).await.unwrap(), node);

    let both = GetNodeRequest {
        id: node.id.clone(),
        public_key: Some(node.public_key.clone()),
    };
    assert_status(c.get_node(both).await, Code::InvalidArgument, "");
    for public_key in [None, Some(String::new())] {
        let neither = GetNodeRequest {
            id: String::new(),
            public_key,
        };
        assert_status(c.get_node(neither).await, Code::InvalidArgument, "");
    }
    assert_status(
        get_by_id(&c, MISSING_NODE).await,
        Code::NotFound,
        MISSING_NODE,
    );
    let unknown_key = public_key();
    assert_status(
        get_by_key(&c, &unknown_key).await,
        Code::NotFound,
        &unknown_key,
    );
}

pub async fn update_node_replaces_given_fields(c: Ctx) {
    let node = register_node(&c, "old", vec![label("a", "1"), label("b", "2")]).await;
    let new_key = public_key();
    let new_labels = vec![label("c", "3")];
    let updated = c
        .update_node(UpdateNodeRequest {
            id: node.id.clone(),
            name: "new".into(),
            public_key: new_key.clone(),
            labels: new_labels.clone(),
        })
        .await
        .unwrap()
        .node
        .unwrap();
    assert_eq!(updated.id, node.id);
    assert_eq!(updated.name, "new");
    assert_eq!(updated.public_key, new_key);
    assert_eq!(
        updated.labels, new_labels,
        "labels are replaced, not merged"
    );
    assert_eq!(updated.is_enabled, node.is_enabled);
    assert_eq!(get_by_id(&c, &node.id).await.unwrap(), updated);
    assert_eq!(get_by_key(&c, &new_key).await.unwrap().id, node.id);
    assert_status(get_by_key(&c, &node.public_key).await, Code::NotFound, "");

    // Empty fields keep what is stored.
    let unchanged = c
        .update_node(UpdateNodeRequest {
            id: node.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .node
        .unwrap();
    assert_eq!(
        (unchanged.name, unchanged.public_key, unchanged.labels),
        ("new".to_string(), new_key, new_labels)
    );
}

pub async fn update_node_errors(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let other = register_node(&c, "b", vec![]).await;
    let update = |id: &str, key: &str| UpdateNodeRequest {
        id: id.into(),
        name: "renamed".into(),
        public_key: key.into(),
        labels: vec![],
    };
    assert_status(
        c.update_node(update(MISSING_NODE, "")).await,
        Code::NotFound,
        MISSING_NODE,
    );
    assert_status(
        c.update_node(update(&node.id, "xyz")).await,
        Code::InvalidArgument,
        "",
    );
    assert_status(
        c.update_node(update(&node.id, &other.public_key)).await,
        Code::AlreadyExists,
        "",
    );
    assert_status(
        c.update_node(update("", "")).await,
        Code::InvalidArgument,
        "",
    );
    assert_eq!(get_by_id(&c, &node.id).await.unwrap(), node, "unchanged");
}

pub async fn enable_and_disable_toggle_the_node(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let bystander = register_node(&c, "b", vec![]).await;
    let disabled = set_enabled(&c, &node.id, false).await.unwrap();
    assert!(!disabled.is_enabled);
    assert!(!disabled.is_connected);
    assert!(!get_by_id(&c, &node.id).await.unwrap().is_enabled);
    assert!(
        !set_enabled(&c, &node.id, false).await.unwrap().is_enabled,
        "disabling twice is harmless"
    );
    assert!(get_by_id(&c, &bystander.id).await.unwrap().is_enabled);
    let enabled = set_enabled(&c, &node.id, true).await.unwrap();
    assert!(enabled.is_enabled);
    assert!(get_by_id(&c, &node.id).await.unwrap().is_enabled);
    assert_eq!((enabled.name, enabled.labels), (node.name, node.labels));
    for on in [true, false] {
        assert_status(
            set_enabled(&c, MISSING_NODE, on).await,
            Code::NotFound,
            MISSING_NODE,
        );
    }
}

pub async fn list_nodes_filters_are_anded(c: Ctx) {
    let n0 = register_node(&c, "n0", vec![label("env", "prod")]).await;
    let n1 = register_node(&c, "n1", vec![label("env", "prod")]).await;
    let n2 = register_node(&c, "n2", vec![label("env", "test")]).await;
    let n3 = register_node(&c, "n3", vec![]).await;
    set_enabled(&c, &n1.id, false).await.unwrap();
    let prod = selector("env", SelectorOp::Eq, Some("prod"));
    let filter = |ids: &[&Node], keys: &[&Node], enabled: EnableState, selectors| {
        list_nodes_request::Filter {
            ids: ids.iter().map(|n| n.id.clone()).collect(),
            public_keys: keys.iter().map(|n| n.public_key.clone()).collect(),
            enabled: enabled as i32,
            selectors,
        }
    };
    use EnableState::{Disabled, Enabled, Unspecified};
    let cases = vec![
        (
            "no constraint",
            filter(&[], &[], Unspecified, vec![]),
            vec![&n0, &n1, &n2, &n3],
        ),
        (
            "ids",
            filter(&[&n2, &n0], &[], Unspecified, vec![]),
            vec![&n0, &n2],
        ),
        (
            "public_keys",
            filter(&[], &[&n3, &n1], Unspecified, vec![]),
            vec![&n1, &n3],
        ),
        (
            "enabled",
            filter(&[], &[], Enabled, vec![]),
            vec![&n0, &n2, &n3],
        ),
        ("disabled", filter(&[], &[], Disabled, vec![]), vec![&n1]),
        (
            "selector",
            filter(&[], &[], Unspecified, vec![prod.clone()]),
            vec![&n0, &n1],
        ),
        (
            "selector and enabled",
            filter(&[], &[], Enabled, vec![prod.clone()]),
            vec![&n0],
        ),
        (
            "ids, keys and enabled",
            filter(&[&n0, &n1, &n2], &[&n1, &n2, &n3], Enabled, vec![]),
            vec![&n2],
        ),
        (
            "disjoint ids and keys",
            filter(&[&n0], &[&n3], Unspecified, vec![]),
            vec![],
        ),
        (
            "disabled and selector",
            filter(&[&n0, &n2], &[], Disabled, vec![prod]),
            vec![],
        ),
    ];
    for (what, filter, expected) in cases {
        let expected: Vec<String> = expected.iter().map(|n| n.id.clone()).collect();
        assert_eq!(node_ids(&c, filter).await, expected, "{what}");
    }
    // Public keys match whatever their case.
    let upper = list_nodes_request::Filter {
        public_keys: vec![n2.public_key.to_ascii_uppercase()],
        ..Default::default()
    };
    assert_eq!(node_ids(&c, upper).await, vec![n2.id.clone()]);
}

pub async fn list_nodes_pagination(c: Ctx) {
    let ids = register_nodes(&c, 5).await;
    let page = |size: i32, page: i32, filter: Option<list_nodes_request::Filter>| {
        let client = c.client.clone();
        async move {
            client
                .list_nodes(ListNodesRequest {
                    filter,
                    page_size: size,
                    page,
                })
                .await
                .map(|r| {
                    (
                        r.nodes.into_iter().map(|n| n.id).collect::<Vec<_>>(),
                        r.total_count,
                    )
                })
        }
    };
    let slice = |range: std::ops::Range<usize>| ids[range].to_vec();
    assert_eq!(
        page(0, 0, None).await.unwrap(),
        (ids.clone(), 5),
        "0 = everything"
    );
    assert_eq!(
        page(0, 3, None).await.unwrap(),
        (ids.clone(), 5),
        "page ignored without size"
    );
    assert_eq!(
        page(2, 0, None).await.unwrap(),
        (slice(0..2), 5),
        "page 0 is page 1"
    );
    assert_eq!(page(2, 1, None).await.unwrap(), (slice(0..2), 5));
    assert_eq!(page(2, 2, None).await.unwrap(), (slice(2..4), 5));
    assert_eq!(
        page(2, 3, None).await.unwrap(),
        (slice(4..5), 5),
        "last partial page"
    );
    assert_eq!(
        page(2, 4, None).await.unwrap(),
        (vec![], 5),
        "beyond the end"
    );
    assert_eq!(page(10, 1, None).await.unwrap(), (ids.clone(), 5));
    assert_eq!(page(5, 2, None).await.unwrap(), (vec![], 5));

    let filtered = list_nodes_request::Filter {
        ids: ids[1..].to_vec(),
        ..Default::default()
    };
    assert_eq!(
        page(3, 2, Some(filtered)).await.unwrap(),
        (slice(4..5), 4),
        "total_count counts matches before paging"
    );

    for (size, number) in [(-1, 1), (2, -1), (-5, -5)] {
        assert_status(page(size, number, None).await, Code::InvalidArgument, "");
    }
}

pub async fn list_nodes_in_creation_order(c: Ctx) {
    let ids = register_nodes(&c, 4).await;
    // Changes do not move nodes: the order is by creation.
    c.update_node(UpdateNodeRequest {
        id: ids[0].clone(),
        name: "renamed".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    set_enabled(&c, &ids[1], false).await.unwrap();
    let response = c.list_nodes(ListNodesRequest::default()).await.unwrap();
    let listed: Vec<String> = response.nodes.iter().map(|n| n.id.clone()).collect();
    assert_eq!(listed, ids);
    assert_creation_order(
        response
            .nodes
            .iter()
            .map(|n| (micros(&n.created_at), n.id.as_str())),
    );
    assert_eq!(node_ids(&c, Default::default()).await, ids, "stable");
}
