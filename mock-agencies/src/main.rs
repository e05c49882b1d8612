//! `mock-agencies`: serves the mock police and tax back-ends on loopback until interrupted.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use mock_agencies::{Keys, POLICE_ADDR, TAX_ADDR};

/// Mock agency back-ends for development: the traffic police and the tax administration.
#[derive(Debug, Parser)]
#[command(name = "mock-agencies", version, about)]
struct Args {
    /// Address of the police back-end.
    #[arg(long, default_value = POLICE_ADDR)]
    police: SocketAddr,
    /// Address of the tax back-end.
    #[arg(long, default_value = TAX_ADDR)]
    tax: SocketAddr,
    /// API key the police back-end accepts.
    #[arg(long, default_value = "dev-police-key")]
    police_key: String,
    /// API key the tax back-end accepts.
    #[arg(long, default_value = "dev-tax-key")]
    tax_key: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let args = Args::parse();
    let keys = Keys { police: args.police_key, tax: args.tax_key };
    let running = mock_agencies::start(args.police, args.tax, keys)
        .await
        .context("failed to bind the mock back-ends (is another copy running?)")?;
    tracing::info!(police = %running.police, tax = %running.tax, "mock agency back-ends serving");
    tokio::signal::ctrl_c().await.context("failed to wait for ctrl-c")?;
    Ok(())
}
