//! `offchain jd nodes …`

use anyhow::Result;
use offchain::proto::node::{
    DisableNodeRequest, EnableNodeRequest, EnableState, GetNodeRequest,
    ListNodeChainConfigsRequest, ListNodesRequest, RegisterNodeRequest, UpdateNodeRequest,
    list_node_chain_configs_request, list_nodes_request,
};

use super::{parse_labels, parse_selectors};
use crate::args::NodesCommand;
use crate::client::Jd;
use crate::output::{self, Printer};

/// Runs one nodes subcommand.
pub async fn run(jd: &Jd, out: &Printer, command: NodesCommand) -> Result<()> {
    let client = jd.client();
    match command {
        NodesCommand::List {
            selectors,
            enabled,
            disabled,
            page,
            page_size,
        } => {
            let state = match (enabled, disabled) {
                (true, _) => EnableState::Enabled,
                (_, true) => EnableState::Disabled,
                _ => EnableState::Unspecified,
            };
            let request = ListNodesRequest {
                filter: Some(list_nodes_request::Filter {
                    enabled: state as i32,
                    selectors: parse_selectors(&selectors)?,
                    ..Default::default()
                }),
                page_size: page_size.unwrap_or(0),
                page: page.unwrap_or(0),
            };
            let response = jd.call(client.list_nodes(request)).await?;
            out.print(&response, |r| {
                let mut view = output::nodes(&r.nodes);
                let total = usize::try_from(r.total_count).unwrap_or(0);
                if total > r.nodes.len() {
                    view.note(format!(
                        "showing {} of {total} matching nodes (page {})",
                        r.nodes.len(),
                        page.unwrap_or(1)
                    ));
                }
                view
            })
        }
        NodesCommand::Get { id, public_key } => {
            let request = GetNodeRequest {
                id: id.unwrap_or_default(),
                public_key,
            };
            let response = jd.call(client.get_node(request)).await?;
            out.print(&response, |r| output::node(r.node.as_ref()))
        }
        NodesCommand::Register {
            name,
            public_key,
            labels,
        } => {
            let request = RegisterNodeRequest {
                name,
                public_key,
                labels: parse_labels(&labels)?,
            };
            let response = jd.call(client.register_node(request)).await?;
            out.print(&response, |r| output::node(r.node.as_ref()))
        }
        NodesCommand::Update {
            id,
            name,
            public_key,
            labels,
        } => {
            // Empty name, key and labels mean "leave as is" on the wire.
            let request = UpdateNodeRequest {
                id,
                name: name.unwrap_or_default(),
                public_key: public_key.unwrap_or_default(),
                labels: parse_labels(&labels)?,
            };
            let response = jd.call(client.update_node(request)).await?;
            out.print(&response, |r| output::node(r.node.as_ref()))
        }
        NodesCommand::Enable { id } => {
            let response = jd
                .call(client.enable_node(EnableNodeRequest { id }))
                .await?;
            out.print(&response, |r| output::node(r.node.as_ref()))
        }
        NodesCommand::Disable { id } => {
            let response = jd
                .call(client.disable_node(DisableNodeRequest { id }))
                .await?;
            out.print(&response, |r| output::node(r.node.as_ref()))
        }
        NodesCommand::ChainConfigs { nodes } => {
            let request = ListNodeChainConfigsRequest {
                filter: Some(list_node_chain_configs_request::Filter { node_ids: nodes }),
            };
            let response = jd.call(client.list_node_chain_configs(request)).await?;
            out.print(&response, |r| output::chain_configs(&r.chain_configs))
        }
    }
}
