//! Starts a real host over loopback HTTP with chosen adapters.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use panjereh_host::app::App;
use panjereh_host::config::{Config, Overrides};
use serde_json::Value;

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// An adapter built from source by build.rs.
#[derive(Debug, Clone, Copy)]
pub struct Guest {
    pub name: &'static str,
    pub wasm: &'static str,
    pub manifest: &'static str,
}

impl Guest {
    /// Copies the package into `dir` as `NAME.wasm` + `NAME.toml`.
    pub fn install(&self, dir: &Path) {
        std::fs::copy(self.wasm, dir.join(format!("{}.wasm", self.name))).unwrap();
        std::fs::copy(self.manifest, dir.join(format!("{}.toml", self.name))).unwrap();
    }
}

/// A PostgreSQL database of its own for one test, dropped by [`PgDatabase::drop_now`].
pub struct PgDatabase {
    pub url: String,
    name: String,
}

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        use sqlx::Connection as _;
        let name = format!("panjereh_test_{:016x}", rand_u64());
        let mut admin = sqlx::PgConnection::connect(PG_ADMIN).await.expect("PostgreSQL on 127.0.0.1:5432");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
        PgDatabase { url: format!("postgres://postgres@127.0.0.1:5432/{name}"), name }
    }

    pub async fn drop_now(self) {
        use sqlx::Connection as _;
        let mut admin = sqlx::PgConnection::connect(PG_ADMIN).await.unwrap();
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut admin).await;
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

/// A running host and an HTTP client for it.
pub struct Host {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Host {
    /// A host serving `guests`, with `config` as its TOML configuration file.
    pub async fn start(guests: &[Guest], config: &str) -> Host {
        Host::start_with(guests, config, |_| {}).await
    }

    /// Like [`Host::start`], letting the test add files to the plugins folder.
    pub async fn start_with(guests: &[Guest], config: &str, prepare: impl FnOnce(&Path)) -> Host {
        Host::start_on(None, guests, config, prepare).await
    }

    /// A host on a given database URL (`None`: a SQLite file of its own).
    pub async fn start_on(database: Option<&str>, guests: &[Guest], config: &str, prepare: impl FnOnce(&Path)) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        for guest in guests {
            guest.install(&plugins);
        }
        prepare(&plugins);
        let config_file = dir.path().join("panjereh.toml");
        std::fs::write(&config_file, config).unwrap();
        let config = Config::load(Overrides {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            plugins_dir: Some(plugins),
            database_url: Some(
                database
                    .map_or_else(|| format!("sqlite://{}", dir.path().join("panjereh.db").display()), str::to_owned),
            ),
            config_file: Some(config_file),
            cache_dir: Some(dir.path().join("cache")),
        })
        .unwrap();
        let app = App::start(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(panjereh_host::api::serve(listener, app.clone(), async move {
            let _ = rx.await;
        }));
        Host { addr, app, client: reqwest::Client::new(), _dir: dir, shutdown: Some(tx) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET, returning status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_lang(path, "fa").await
    }

    /// GET with an `Accept-Language`.
    pub async fn get_lang(&self, path: &str, lang: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).header("accept-language", lang).send().await.unwrap();
        decode(response).await
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_lang(path, body, "fa").await
    }

    /// POST a JSON body with an `Accept-Language`.
    pub async fn post_lang(&self, path: &str, body: Value, lang: &str) -> (u16, Value) {
        let response =
            self.client.post(self.url(path)).header("accept-language", lang).json(&body).send().await.unwrap();
        decode(response).await
    }
}

impl Host {
    /// Creates an operator directly in the database and returns its token.
    pub async fn operator(&self, name: &str, role: panjereh_host::store::operators::Role) -> String {
        self.app.db.create_operator(name, role).await.unwrap().1
    }

    /// Uploads a package through the admin API.
    pub async fn upload(&self, token: &str, manifest: &str, wasm: Vec<u8>, signature: Option<&str>) -> (u16, Value) {
        let mut form = reqwest::multipart::Form::new()
            .text("manifest", manifest.to_owned())
            .part("component", reqwest::multipart::Part::bytes(wasm).file_name("c.wasm"));
        if let Some(sig) = signature {
            form = form.text("signature", sig.to_owned());
        }
        let response = self
            .client
            .post(self.url("/admin/v1/plugins"))
            .bearer_auth(token)
            .header("accept-language", "en")
            .multipart(form)
            .send()
            .await
            .unwrap();
        decode(response).await
    }

    /// Uploads a built guest.
    pub async fn upload_guest(&self, token: &str, guest: Guest) -> (u16, Value) {
        let manifest = std::fs::read_to_string(guest.manifest).unwrap();
        self.upload(token, &manifest, std::fs::read(guest.wasm).unwrap(), None).await
    }

    /// An admin API call with a token.
    pub async fn admin(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut request =
            self.client.request(method, self.url(path)).bearer_auth(token).header("accept-language", "en");
        if let Some(body) = body {
            request = request.json(&body);
        }
        decode(request.send().await.unwrap()).await
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Status and body; problem answers must carry `application/problem+json`.
pub async fn decode(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = response.text().await.unwrap();
    if status >= 400 {
        assert_eq!(content_type, "application/problem+json", "error {status} without a problem body: {text}");
    }
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}
