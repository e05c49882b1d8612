//! Starts a real host over loopback HTTP with chosen adapters.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use panjereh_host::app::App;
use panjereh_host::auth::notifier::MemoryNotifier;
use panjereh_host::capabilities::TestResolver;
use panjereh_host::config::{Config, OtpMode, Overrides, RegistrySettings};
use serde_json::{Value, json};

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

/// A host configuration: sign-in without back-off, and the applicant guest granted the
/// citizen's national ID.
pub const APPLICANT_WITH_NATIONAL_ID: &str = r#"
[auth]
otp-backoff-ms = 0

[adapters.applicant.grant]
identity = ["national-id"]
"#;

/// The bearer token of the test hosts' registries.
pub const REGISTRY_TOKEN: &str = "test-registry-token";

/// `[auth.registry]` for a mock registry on `addr`.
pub fn registry_settings(addr: SocketAddr) -> RegistrySettings {
    RegistrySettings {
        url: format!("http://{addr}"),
        token: REGISTRY_TOKEN.into(),
        timeout: std::time::Duration::from_secs(3),
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
    rand::random()
}

/// Which database a host runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// A fresh SQLite file in the test's temporary folder.
    Sqlite,
    /// A fresh database on the PostgreSQL server (`PANJEREH_TEST_POSTGRES`, default
    /// `postgres://postgres@127.0.0.1:5432/test`), dropped when the host is.
    Postgres,
}

/// The server the PostgreSQL tests create their databases on.
fn postgres_admin_url() -> String {
    std::env::var("PANJEREH_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn with_database(url: &str, database: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    format!("{base}/{database}")
}

async fn postgres_admin(sql: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {}: {e}", postgres_admin_url()));
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
    let _ = conn.close().await;
}

/// Runs test bodies `async fn name(db: Database)` once on SQLite and once on PostgreSQL.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::harness::Database::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::harness::Database::Postgres).await } )*
        }
    };
}
pub(crate) use on_both_databases;

/// A running host and an HTTP client for it.
pub struct Host {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub client: reqwest::Client,
    /// Where one-time codes go; tests read them here.
    pub notifier: Arc<MemoryNotifier>,
    /// The mobile-ownership registry this host asks (a `mock-agencies` registry on its own
    /// port, knowing the fixture pairs): `otp = "registry-checked"` unless the test's
    /// configuration chooses another mode.
    pub registry: mock_agencies::registry::Handle,
    _registry_server: tokio::sync::watch::Sender<()>,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The server task: `serve` returns once shutdown has drained every connection.
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The PostgreSQL database to drop at the end.
    postgres_database: Option<String>,
}

impl Host {
    /// A host serving `guests`, with `config` as its TOML configuration file.
    pub async fn start(guests: &[Guest], config: &str) -> Host {
        Host::start_with(guests, config, |_| {}).await
    }

    /// Like [`Host::start`], letting the test add files to the plugins folder.
    pub async fn start_with(guests: &[Guest], config: &str, prepare: impl FnOnce(&Path)) -> Host {
        Host::launch(None, None, guests, config, prepare, &[]).await
    }

    /// Like [`Host::start_with`], with adapters' outbound names resolved by `names` only.
    /// Every test host resolves through a test resolver, so no name is ever looked up, and
    /// no connection made, outside the test.
    pub async fn start_resolving(
        guests: &[Guest],
        config: &str,
        prepare: impl FnOnce(&Path),
        names: &[(&str, IpAddr)],
    ) -> Host {
        Host::launch(None, None, guests, config, prepare, names).await
    }

    /// A host on a given database URL (`None`: a SQLite file of its own).
    pub async fn start_on(database: Option<&str>, guests: &[Guest], config: &str, prepare: impl FnOnce(&Path)) -> Host {
        Host::launch(database.map(str::to_owned), None, guests, config, prepare, &[]).await
    }

    /// A host on a fresh database of the chosen kind (see [`on_both_databases`]).
    pub async fn start_db(database: Database, guests: &[Guest], config: &str) -> Host {
        match database {
            Database::Sqlite => Host::launch(None, None, guests, config, |_| {}, &[]).await,
            Database::Postgres => {
                let name = format!("panjereh_test_{:016x}", rand::random::<u64>());
                postgres_admin(&format!("CREATE DATABASE {name}")).await;
                let url = with_database(&postgres_admin_url(), &name);
                Host::launch(Some(url), Some(name), guests, config, |_| {}, &[]).await
            }
        }
    }

    /// Starts a host on `database_url` (`None`: a SQLite file of its own); drops
    /// `postgres_database` with the host.
    async fn launch(
        database_url: Option<String>,
        postgres_database: Option<String>,
        guests: &[Guest],
        config: &str,
        prepare: impl FnOnce(&Path),
        names: &[(&str, IpAddr)],
    ) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        for guest in guests {
            guest.install(&plugins);
        }
        prepare(&plugins);
        let config_file = dir.path().join("panjereh.toml");
        std::fs::write(&config_file, config).unwrap();
        let chooses_otp = toml::from_str::<toml::Table>(config)
            .ok()
            .and_then(|t| t.get("auth").and_then(|a| a.get("otp")).cloned())
            .is_some();
        let mut config = Config::load(Overrides {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            plugins_dir: Some(plugins),
            database_url: Some(
                database_url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("panjereh.db").display())),
            ),
            config_file: Some(config_file),
            cache_dir: Some(dir.path().join("cache")),
        })
        .unwrap();
        config.egress.resolver = Arc::new(TestResolver::only(names.iter().map(|(name, ip)| (*name, vec![*ip]))));
        let registry = mock_agencies::registry::Handle::new(REGISTRY_TOKEN);
        let (registry_addr, registry_server) =
            mock_agencies::serve(SocketAddr::from(([127, 0, 0, 1], 0)), registry.router()).await.unwrap();
        if !chooses_otp {
            config.auth.otp = OtpMode::RegistryChecked;
            config.registry = Some(registry_settings(registry_addr));
        }
        let notifier = Arc::new(MemoryNotifier::default());
        let app = App::start_with_notifier(config, notifier.clone()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(panjereh_host::api::serve(listener, app.clone(), async move {
            let _ = rx.await;
        }));
        Host {
            addr,
            app,
            client: reqwest::Client::new(),
            notifier,
            registry,
            _registry_server: registry_server,
            _dir: dir,
            shutdown: Some(tx),
            served: Some(served),
            postgres_database,
        }
    }

    /// Begins the server's graceful shutdown; the task ends when it has drained.
    pub fn stop(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.served.take().expect("the host was stopped once already")
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
        self.app.db.create_operator(name, role, panjereh_host::store::operators::DEFAULT_TTL).await.unwrap().1
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

impl Host {
    /// Registers `mobile` to `national_id` in this host's ownership registry.
    pub fn own(&self, national_id: &str, mobile: &str) {
        let national_id = panjereh_formats::national_id::parse(national_id).unwrap_or_else(|_| national_id.to_owned());
        let mobile = panjereh_formats::mobile::parse(mobile).unwrap_or_else(|_| mobile.to_owned());
        self.registry.register(&national_id, &mobile);
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(name) = self.postgres_database.take() {
            // Drop runs inside the test's runtime: use a thread with a runtime of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(postgres_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
            })
            .join();
        }
    }
}

/// An HTTP answer: status, JSON body and headers.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Host {
    /// Signs a citizen in with the built-in OTP provider; returns the bearer token.
    pub async fn sign_in(&self, national_id: &str, mobile: &str) -> String {
        self.own(national_id, mobile);
        let (status, body) = self.post("/auth/otp/start", json!({"national_id": national_id, "mobile": mobile})).await;
        assert_eq!(status, 202, "{body}");
        let canonical = panjereh_formats::mobile::parse(mobile).unwrap();
        let code = self.notifier.last_code(&canonical).expect("a code was sent");
        let (status, body) = self.post("/auth/otp/verify", json!({"national_id": national_id, "code": code})).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Any request, with an optional bearer token, JSON body and extra headers.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path)).header("accept-language", "en");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let headers = response.headers().clone();
        let (status, body) = decode(response).await;
        Answer { status, body, headers }
    }

    /// GET as a signed-in citizen (English answers).
    pub async fn get_as(&self, token: &str, path: &str) -> Answer {
        self.call(reqwest::Method::GET, path, Some(token), None, &[]).await
    }

    /// POST JSON as a signed-in citizen (English answers).
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> Answer {
        self.call(reqwest::Method::POST, path, Some(token), Some(body), &[]).await
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
