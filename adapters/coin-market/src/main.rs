//! `coin-market-adapter`: serves the coin/market adapter on `EA_HOST:EA_PORT`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let started = async {
        let config = offchain_adapter::Config::from_env()?;
        let adapter = coin_market_adapter::adapter(&config)?;
        adapter.serve(config).await
    };
    match started.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("coin-market-adapter: {error}");
            ExitCode::FAILURE
        }
    }
}
