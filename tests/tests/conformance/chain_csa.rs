//! ListNodeChainConfigs and the CSA service.

use offchain::proto::csa::{GetKeypairRequest, ListKeypairsRequest};
use offchain::proto::node::{
    Chain, ChainConfig, ChainType, ListNodeChainConfigsRequest, list_node_chain_configs_request,
};

use crate::support::*;

async fn chain_configs(c: &Ctx, node_ids: &[&str]) -> Vec<ChainConfig> {
    let filter = list_node_chain_configs_request::Filter {
        node_ids: strings(node_ids),
    };
    c.list_node_chain_configs(ListNodeChainConfigsRequest {
        filter: Some(filter),
    })
    .await
    .unwrap()
    .chain_configs
}

fn config(chain_id: &str, chain_type: ChainType, account: &str, node_id: &str) -> ChainConfig {
    ChainConfig {
        chain: Some(Chain {
            id: chain_id.into(),
            r#type: chain_type as i32,
        }),
        account_address: account.into(),
        admin_address: "0xadmin".into(),
        node_id: node_id.into(),
        ..Default::default()
    }
}

/// `(node_id, chain id, account)` of each config, sorted.
fn summary(configs: &[ChainConfig]) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = configs
        .iter()
        .map(|c| {
            let chain = c.chain.clone().unwrap_or_default().id;
            (c.node_id.clone(), chain, c.account_address.clone())
        })
        .collect();
    rows.sort();
    rows
}

pub async fn chain_configs_are_empty_without_reports(c: Ctx) {
    let ids = register_nodes(&c, 2).await;
    assert!(chain_configs(&c, &[]).await.is_empty());
    assert!(chain_configs(&c, &[&ids[0], &ids[1]]).await.is_empty());
    let response = c
        .list_node_chain_configs(ListNodeChainConfigsRequest { filter: None })
        .await
        .unwrap();
    assert!(response.chain_configs.is_empty());
}

pub async fn chain_configs_carry_node_id_and_are_filtered(c: Ctx) {
    let Some(jd) = c.jd.clone() else {
        eprintln!("skipping: this provider gives no access to the JD behind it");
        return;
    };
    let ids = register_nodes(&c, 3).await;
    let (a, b, quiet) = (&ids[0], &ids[1], &ids[2]);
    // Whatever node_id a report carries, the JD files it under the reporting node.
    jd.store()
        .replace_chain_configs(
            a,
            &[
                config("1", ChainType::Evm, "0xa1", ""),
                config("mainnet", ChainType::Solana, "sol-a", "node_other"),
            ],
        )
        .await
        .unwrap();
    jd.store()
        .replace_chain_configs(b, &[config("1", ChainType::Evm, "0xb1", "")])
        .await
        .unwrap();

    let row = |node: &String, chain: &str, account: &str| {
        (node.clone(), chain.to_string(), account.to_string())
    };
    let all = vec![
        row(a, "1", "0xa1"),
        row(a, "mainnet", "sol-a"),
        row(b, "1", "0xb1"),
    ];
    assert_eq!(summary(&chain_configs(&c, &[]).await), all, "no filter");
    assert_eq!(summary(&chain_configs(&c, &[a, b]).await), all);
    assert_eq!(
        summary(&chain_configs(&c, &[b]).await),
        vec![row(b, "1", "0xb1")]
    );
    assert_eq!(summary(&chain_configs(&c, &[a]).await), all[..2].to_vec());
    assert!(chain_configs(&c, &[quiet]).await.is_empty());
    assert!(
        chain_configs(&c, &["node_01jzzzzzzzzzzzzzzzzzzzzzzz"])
            .await
            .is_empty()
    );

    // The configs come back whole.
    let solana = chain_configs(&c, &[a])
        .await
        .into_iter()
        .find(|c| c.chain.as_ref().unwrap().r#type == ChainType::Solana as i32)
        .expect("the solana config");
    assert_eq!(solana, config("mainnet", ChainType::Solana, "sol-a", a));
}

pub async fn csa_keypair_is_listed_and_stable(c: Ctx) {
    let keypair = c
        .get_keypair(GetKeypairRequest {})
        .await
        .unwrap()
        .keypair
        .expect("GetKeypair returns the active key");
    assert_eq!(keypair.id, 1, "ids count from 1");
    assert_eq!(keypair.public_key.len(), 64, "{}", keypair.public_key);
    assert!(
        keypair
            .public_key
            .chars()
            .all(|ch| ch.is_ascii_digit() || ('a'..='f').contains(&ch)),
        "lower-case hex: {}",
        keypair.public_key
    );
    assert!(keypair.created_at.is_some());
    let listed = c
        .list_keypairs(ListKeypairsRequest {})
        .await
        .unwrap()
        .keypairs;
    assert_eq!(listed, vec![keypair.clone()]);
    let again = c.get_keypair(GetKeypairRequest {}).await.unwrap().keypair;
    assert_eq!(again, Some(keypair));
}
