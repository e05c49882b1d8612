//! `panjereh plugin ...`: a client of a running host's admin API.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::Value;

use super::PluginCommand;
use crate::plugins::signature;

/// Which host to talk to, as whom.
#[derive(Debug, Args)]
pub struct HostArgs {
    /// The host's base URL.
    #[arg(long, env = "PANJEREH_HOST", default_value = "http://127.0.0.1:8080")]
    pub host: String,
    /// An operator token (`panjereh operator create`).
    #[arg(long, env = "PANJEREH_TOKEN", hide_env_values = true)]
    pub token: String,
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(args: HostArgs) -> Client {
        Client { http: reqwest::Client::new(), base: args.host.trim_end_matches('/').to_owned(), token: args.token }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .header("accept-language", "en")
            .send()
            .await
            .with_context(|| format!("cannot reach the host at {}", self.base))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let title = body["title"].as_str().unwrap_or("request failed");
            match body["detail"].as_str() {
                Some(detail) => bail!("{title} ({status}): {detail}"),
                None => bail!("{title} ({status})"),
            }
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    async fn post(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }
}

fn sibling(component: &Path, ext: &str) -> PathBuf {
    let mut s = component.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

/// Signs the package of `component` and `manifest` with the secret key file `key`; writes
/// and returns `COMPONENT.sig`.
pub fn sign_package(component: &Path, manifest: &Path, key: &Path) -> anyhow::Result<PathBuf> {
    let secret = std::fs::read_to_string(key).with_context(|| format!("failed to read {}", key.display()))?;
    let key = signature::parse_secret_key(&secret).map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
    let wasm = std::fs::read(component).with_context(|| format!("failed to read {}", component.display()))?;
    let manifest_text = std::fs::read_to_string(manifest)
        .with_context(|| format!("failed to read the manifest {}", manifest.display()))?;
    let signed = signature::sign(&key, &manifest_text, &wasm)
        .with_context(|| format!("{} is not a valid manifest", manifest.display()))?;
    let out = sibling(component, ".sig");
    std::fs::write(&out, format!("{signed}\n")).with_context(|| format!("failed to write {}", out.display()))?;
    Ok(out)
}

/// Runs one `plugin` verb.
pub async fn run(command: PluginCommand, out: super::Out<'_>) -> anyhow::Result<()> {
    match command {
        PluginCommand::New { .. } | PluginCommand::Build { .. } => {
            bail!("`plugin new` and `plugin build` need no host")
        }
        PluginCommand::Sign { component, manifest, key } => {
            let manifest = manifest.unwrap_or_else(|| component.with_extension("toml"));
            let written = sign_package(&component, &manifest, &key)?;
            eprintln!("wrote {}", written.display());
        }
        PluginCommand::Install { component, manifest, signature, no_activate, host } => {
            let manifest = manifest.unwrap_or_else(|| component.with_extension("toml"));
            let wasm = std::fs::read(&component).with_context(|| format!("failed to read {}", component.display()))?;
            let manifest_text = std::fs::read_to_string(&manifest)
                .with_context(|| format!("failed to read the manifest {}", manifest.display()))?;
            let signature_path = signature.unwrap_or_else(|| sibling(&component, ".sig"));
            let mut form = reqwest::multipart::Form::new()
                .text("manifest", manifest_text)
                .part("component", reqwest::multipart::Part::bytes(wasm).file_name("component.wasm"));
            if let Ok(sig) = std::fs::read_to_string(&signature_path) {
                form = form.text("signature", sig);
            }
            let client = Client::new(host);
            let url = format!("{}/admin/v1/plugins?activate={}", client.base, !no_activate);
            let installed = client.send(client.http.post(url).multipart(form)).await?;
            writeln!(
                out,
                "installed {} {} (digest {}){}",
                installed["id"].as_str().unwrap_or("?"),
                installed["version"].as_str().unwrap_or("?"),
                installed["digest"].as_str().unwrap_or("?"),
                if installed["activated"] == true { ", now serving" } else { ", staged" }
            )?;
        }
        PluginCommand::List { host } => {
            let list = Client::new(host).get("/admin/v1/plugins").await?;
            writeln!(out, "{:<24} {:<22} {:<10} {:<10} {:<10}", "ADAPTER", "AGENCY", "VERSION", "PREVIOUS", "STATE")?;
            for p in list["plugins"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "{:<24} {:<22} {:<10} {:<10} {:<10}",
                    p["id"].as_str().unwrap_or(""),
                    p["agency"].as_str().unwrap_or(""),
                    p["active_version"].as_str().unwrap_or(""),
                    p["previous_version"].as_str().unwrap_or("-"),
                    p["state"].as_str().unwrap_or(""),
                )?;
            }
        }
        PluginCommand::Show { id, host } => {
            print(out, Client::new(host).get(&format!("/admin/v1/plugins/{id}")).await?)?
        }
        PluginCommand::Enable { id, host } => {
            summary(out, Client::new(host).post(&format!("/admin/v1/plugins/{id}/enable"), None).await?)?
        }
        PluginCommand::Disable { id, host } => {
            summary(out, Client::new(host).post(&format!("/admin/v1/plugins/{id}/disable"), None).await?)?
        }
        PluginCommand::Activate { id, version, host } => summary(
            out,
            Client::new(host)
                .post(&format!("/admin/v1/plugins/{id}/activate"), Some(serde_json::json!({ "version": version })))
                .await?,
        )?,
        PluginCommand::Rollback { id, host } => {
            summary(out, Client::new(host).post(&format!("/admin/v1/plugins/{id}/rollback"), None).await?)?
        }
        PluginCommand::Remove { id, version: Some(version), purge: _, host } => {
            let client = Client::new(host);
            let url = format!("{}/admin/v1/plugins/{id}/versions/{version}", client.base);
            client.send(client.http.delete(url)).await?;
            writeln!(out, "removed version {version} of {id}")?;
        }
        PluginCommand::Remove { id, version: None, purge, host } => {
            let client = Client::new(host);
            client.send(client.http.delete(format!("{}/admin/v1/plugins/{id}?purge={purge}", client.base))).await?;
            writeln!(out, "removed {id}{}", if purge { ", its kv data erased" } else { "" })?;
        }
    }
    Ok(())
}

fn print(out: super::Out<'_>, value: Value) -> std::io::Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(&value).unwrap_or_default())
}

fn summary(out: super::Out<'_>, p: Value) -> std::io::Result<()> {
    writeln!(
        out,
        "{} {}: {} (previous {})",
        p["id"].as_str().unwrap_or("?"),
        p["active_version"].as_str().unwrap_or("?"),
        p["state"].as_str().unwrap_or("?"),
        p["previous_version"].as_str().unwrap_or("-"),
    )
}
