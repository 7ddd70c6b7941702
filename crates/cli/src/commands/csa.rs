//! `offchain jd csa …`

use anyhow::Result;
use offchain::proto::csa::{GetKeypairRequest, ListKeypairsRequest};

use crate::args::CsaCommand;
use crate::client::Jd;
use crate::output::{self, Printer};

/// Runs one csa subcommand.
pub async fn run(jd: &Jd, out: &Printer, command: CsaCommand) -> Result<()> {
    let client = jd.client();
    match command {
        CsaCommand::Get => {
            let response = jd.call(client.get_keypair(GetKeypairRequest {})).await?;
            out.print(&response, |r| output::keypairs(r.keypair.as_slice()))
        }
        CsaCommand::List => {
            let response = jd
                .call(client.list_keypairs(ListKeypairsRequest {}))
                .await?;
            out.print(&response, |r| output::keypairs(&r.keypairs))
        }
    }
}
