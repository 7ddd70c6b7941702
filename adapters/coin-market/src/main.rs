//! `coin-market-adapter`: serves the coin/market adapter on `EA_HOST:EA_PORT`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let started = offchain_adapter::Config::from_env()
        .map_err(offchain_adapter::StartError::from)
        .and_then(|config| coin_market_adapter::adapter(&config)?.run(config));
    match started {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("coin-market-adapter: {error}");
            ExitCode::FAILURE
        }
    }
}
