//! The `cfm` messages carry the field numbers and wire types of `node-link.md`'s tables
//! ("Services"): every field is set, the encoding is walked, and the (number, wire type)
//! pairs are compared with the spec, so a mistyped number cannot slip through.

use offchain_proto::cfm::*;
use prost::Message;
use prost::bytes::Buf;
use prost::encoding::{DecodeContext, WireType, decode_key, skip_field};

use WireType::{LengthDelimited as Len, Varint};

/// The top-level (field number, wire type) pairs of an encoded message, in order.
fn fields(message: &impl Message) -> Vec<(u32, WireType)> {
    let bytes = message.encode_to_vec();
    let mut buf = bytes.as_slice();
    let mut found = Vec::new();
    while buf.has_remaining() {
        let (number, wire_type) = decode_key(&mut buf).unwrap();
        skip_field(wire_type, number, &mut buf, DecodeContext::default()).unwrap();
        found.push((number, wire_type));
    }
    found
}

fn timestamp() -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: 1,
        nanos: 1,
    })
}

#[test]
fn update_node_request_fields_1_to_13() {
    let request = UpdateNodeRequest {
        job_types: vec![JobType::Ocr2 as i32],
        chain_id: 1,
        account_addresses: vec!["0xabc".into()],
        is_bootstrap_peer: true,
        bootstrap_multiaddr: "/ip4/1.2.3.4".into(),
        version: "1.0.0".into(),
        chain_ids: vec![1],
        accounts: vec![Account {
            chain_type: ChainType::Evm as i32,
            chain_id: "1".into(),
            address: "0xabc".into(),
        }],
        chains: vec![Chain {
            id: "1".into(),
            r#type: ChainType::Evm as i32,
        }],
        chain_configs: vec![ChainConfig::default()],
        workflow_key: Some(String::new()),
        p2p_key_bundles: vec![P2pKeyBundle {
            peer_id: "p".into(),
            public_key: "k".into(),
        }],
        nop_friendly_name: "nop".into(),
    };
    assert_eq!(
        fields(&request),
        vec![
            (1, Len), // packed repeated enum
            (2, Varint),
            (3, Len),
            (4, Varint),
            (5, Len),
            (6, Len),
            (7, Len), // packed repeated int64
            (8, Len),
            (9, Len),
            (10, Len),
            (11, Len), // optional: present even when empty
            (12, Len),
            (13, Len),
        ]
    );
    assert_eq!(
        fields(&request.accounts[0]),
        vec![(1, Varint), (2, Len), (3, Len)]
    );
    assert_eq!(fields(&request.chains[0]), vec![(1, Len), (2, Varint)]);
    assert_eq!(
        fields(&request.p2p_key_bundles[0]),
        vec![(1, Len), (2, Len)]
    );
}

#[test]
fn chain_config_fields_1_to_7_without_node_id() {
    let config = ChainConfig {
        chain: Some(Chain::default()),
        account_address: "a".into(),
        admin_address: "b".into(),
        flux_monitor_config: Some(FluxMonitorConfig { enabled: true }),
        ocr1_config: Some(Ocr1Config::default()),
        ocr2_config: Some(Ocr2Config::default()),
        account_address_public_key: Some(String::new()),
    };
    assert_eq!(
        fields(&config),
        vec![
            (1, Len),
            (2, Len),
            (3, Len),
            (4, Len),
            (5, Len),
            (6, Len),
            (7, Len)
        ]
    );
    assert_eq!(
        fields(&FluxMonitorConfig { enabled: true }),
        vec![(1, Varint)]
    );
}

#[test]
fn ocr_config_fields() {
    let ocr1 = Ocr1Config {
        enabled: true,
        is_bootstrap: true,
        p2p_key_bundle: Some(ocr1_config::P2pKeyBundle {
            peer_id: "p".into(),
            public_key: "k".into(),
        }),
        ocr_key_bundle: Some(ocr1_config::OcrKeyBundle {
            bundle_id: "1".into(),
            config_public_key: "2".into(),
            offchain_public_key: "3".into(),
            onchain_signing_address: "4".into(),
        }),
        multiaddr: "m".into(),
    };
    assert_eq!(
        fields(&ocr1),
        vec![(1, Varint), (2, Varint), (3, Len), (4, Len), (5, Len)]
    );
    assert_eq!(
        fields(ocr1.p2p_key_bundle.as_ref().unwrap()),
        vec![(1, Len), (2, Len)]
    );
    assert_eq!(
        fields(ocr1.ocr_key_bundle.as_ref().unwrap()),
        vec![(1, Len), (2, Len), (3, Len), (4, Len)]
    );

    let ocr2 = Ocr2Config {
        enabled: true,
        is_bootstrap: true,
        p2p_key_bundle: Some(ocr2_config::P2pKeyBundle {
            peer_id: "p".into(),
            public_key: "k".into(),
        }),
        ocr_key_bundle: Some(ocr2_config::OcrKeyBundle {
            bundle_id: "1".into(),
            config_public_key: "2".into(),
            offchain_public_key: "3".into(),
            onchain_signing_address: "4".into(),
            onchain_signing_pub_key: "5".into(),
        }),
        multiaddr: "m".into(),
        plugins: Some(ocr2_config::Plugins {
            commit: true,
            execute: true,
            median: true,
            mercury: true,
            rebalancer: true,
        }),
        forwarder_address: Some(String::new()),
    };
    assert_eq!(
        fields(&ocr2),
        vec![
            (1, Varint),
            (2, Varint),
            (3, Len),
            (4, Len),
            (5, Len),
            (6, Len),
            (7, Len)
        ]
    );
    assert_eq!(
        fields(ocr2.ocr_key_bundle.as_ref().unwrap()),
        vec![(1, Len), (2, Len), (3, Len), (4, Len), (5, Len)]
    );
    assert_eq!(
        fields(ocr2.plugins.as_ref().unwrap()),
        vec![
            (1, Varint),
            (2, Varint),
            (3, Varint),
            (4, Varint),
            (5, Varint)
        ]
    );
}

#[test]
fn update_node_response_is_a_map_of_chain_config_errors() {
    let response = UpdateNodeResponse {
        chain_config_errors: [(
            "1".to_owned(),
            ChainConfigError {
                message: "bad".into(),
            },
        )]
        .into(),
    };
    // A map is a repeated entry message {1: key, 2: value}.
    let bytes = response.encode_to_vec();
    let expected = [&[0x0a, 10, 0x0a, 1, b'1', 0x12, 5, 0x0a, 3][..], b"bad"].concat();
    assert_eq!(bytes, expected);
}

#[test]
fn feeds_manager_job_answers_are_uuid_and_version() {
    for fields_of in [
        fields(&ApprovedJobRequest {
            uuid: "u".into(),
            version: 1,
        }),
        fields(&RejectedJobRequest {
            uuid: "u".into(),
            version: 1,
        }),
        fields(&CancelledJobRequest {
            uuid: "u".into(),
            version: 1,
        }),
    ] {
        assert_eq!(fields_of, vec![(1, Len), (2, Varint)]);
    }
}

#[test]
fn node_service_fields() {
    assert_eq!(
        fields(&ProposeJobRequest {
            id: "i".into(),
            spec: "s".into(),
            multiaddrs: vec!["m".into()],
            version: 1,
        }),
        vec![(1, Len), (2, Len), (3, Len), (4, Varint)]
    );
    assert_eq!(
        fields(&ProposeJobResponse { id: "i".into() }),
        vec![(2, Len)]
    );
    for id_only in [
        fields(&DeleteJobRequest { id: "i".into() }),
        fields(&DeleteJobResponse { id: "i".into() }),
        fields(&RevokeJobRequest { id: "i".into() }),
        fields(&RevokeJobResponse { id: "i".into() }),
    ] {
        assert_eq!(id_only, vec![(1, Len)]);
    }
    assert_eq!(
        fields(&GetJobRunsRequest {
            id: "i".into(),
            limit: 1,
        }),
        vec![(1, Len), (2, Varint)]
    );
    let run = JobRunSummary {
        run_id: 1,
        state: "completed".into(),
        created_at: timestamp(),
        finished_at: timestamp(),
        all_errors: vec!["e".into()],
        fatal_errors: vec!["f".into()],
    };
    assert_eq!(
        fields(&run),
        vec![
            (1, Varint),
            (2, Len),
            (3, Len),
            (4, Len),
            (5, Len),
            (6, Len)
        ]
    );
    assert_eq!(
        fields(&GetJobRunsResponse { runs: vec![run] }),
        vec![(1, Len)]
    );
}

#[test]
fn enums_have_the_spec_numbers() {
    assert_eq!(
        [
            JobType::Unspecified,
            JobType::FluxMonitor,
            JobType::Ocr,
            JobType::Ocr2
        ]
        .map(|t| t as i32),
        [0, 1, 2, 3]
    );
    assert_eq!(ChainType::Evm as i32, 1);
    assert_eq!(ChainType::Canton as i32, 9);
    assert_eq!(
        ChainType::from_str_name("CHAIN_TYPE_STELLAR"),
        Some(ChainType::Stellar)
    );
    assert_eq!(ChainType::Stellar as i32, 8);
}
