//! `mock-agencies`: serves the mock agency back-ends, the mobile-ownership registry and the
//! SMS gateway on loopback until interrupted.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use mock_agencies::{
    CIVIL_ADDR, COMPANIES_ADDR, Keys, POLICE_ADDR, PSP_ADDR, REGISTRY_ADDR, SMS_ADDR, TAX_ADDR, psp, registries,
    registry, sms,
};

/// Mock parties outside the window, for development: the traffic police, the tax
/// administration, the mobile-ownership registry, an SMS gateway and a card payment gateway.
#[derive(Debug, Parser)]
#[command(name = "mock-agencies", version, about)]
struct Args {
    /// Address of the police back-end.
    #[arg(long, default_value = POLICE_ADDR)]
    police: SocketAddr,
    /// Address of the tax back-end.
    #[arg(long, default_value = TAX_ADDR)]
    tax: SocketAddr,
    /// Address of the mobile-ownership registry.
    #[arg(long, default_value = REGISTRY_ADDR)]
    registry: SocketAddr,
    /// Address of the SMS gateway (its outbox page is at `/`).
    #[arg(long, default_value = SMS_ADDR)]
    sms: SocketAddr,
    /// Address of the payment gateway (PSP).
    #[arg(long, default_value = PSP_ADDR)]
    psp: SocketAddr,
    /// Address of the companies registry.
    #[arg(long, default_value = COMPANIES_ADDR)]
    companies: SocketAddr,
    /// Address of the civil registry.
    #[arg(long, default_value = CIVIL_ADDR)]
    civil: SocketAddr,
    /// API key the police back-end accepts.
    #[arg(long, default_value = "dev-police-key")]
    police_key: String,
    /// API key the tax back-end accepts.
    #[arg(long, default_value = "dev-tax-key")]
    tax_key: String,
    /// Bearer token the registry accepts.
    #[arg(long, default_value = "dev-registry-token")]
    registry_token: String,
    /// API key the SMS gateway accepts.
    #[arg(long, default_value = "dev-sms-key")]
    sms_key: String,
    /// Terminal id and password the payment gateway accepts.
    #[arg(long, default_value = "dev-terminal")]
    psp_terminal: String,
    #[arg(long, default_value = "dev-psp-password")]
    psp_password: String,
    /// Bearer token the companies and civil registries accept.
    #[arg(long, default_value = "dev-registries-token")]
    registries_token: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(ansi).init();
    let args = Args::parse();
    let keys = Keys { police: args.police_key, tax: args.tax_key };
    let bind = "failed to bind the mock back-ends (is another copy running?)";
    let running = mock_agencies::start(args.police, args.tax, keys).await.context(bind)?;
    let (registry, _registry) =
        mock_agencies::serve(args.registry, registry::Handle::new(args.registry_token).router()).await.context(bind)?;
    let (sms, _sms) = mock_agencies::serve(args.sms, sms::Handle::new(args.sms_key).router()).await.context(bind)?;
    let (psp, _psp) = mock_agencies::serve(args.psp, psp::Handle::new(args.psp_terminal, args.psp_password).router())
        .await
        .context(bind)?;
    let registries = registries::Handle::new(args.registries_token);
    let (companies, _companies) =
        mock_agencies::serve(args.companies, registries.companies_router()).await.context(bind)?;
    let (civil, _civil) = mock_agencies::serve(args.civil, registries.civil_router()).await.context(bind)?;
    tracing::info!(police = %running.police, tax = %running.tax, %registry, %sms, %psp, %companies, %civil, "mock back-ends serving");
    tokio::signal::ctrl_c().await.context("failed to wait for ctrl-c")?;
    Ok(())
}
