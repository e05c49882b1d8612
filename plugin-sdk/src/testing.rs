//! A native test harness: in-memory fakes of the host's capabilities, so an adapter's logic
//! runs under plain `cargo test` on the developer's machine.
//!
//! Compiled only when the target is not `wasm32`; there, [`crate::kv`], [`crate::config`],
//! [`crate::http`], [`crate::log`] and [`crate::clock`] call these fakes instead of the host.
//! The state is per thread, and Rust's test runner gives every test its own thread, so tests
//! do not see each other's storage or canned responses. Call [`reset`] to start over
//! within one test.
//!
//! The fakes follow the host's rules where an adapter can notice them: configuration
//! keys are `not-granted` until the test sets or grants them; storage and messages are
//! granted only when the crate's `manifest.toml` asks for them (`kv-quota-kib`,
//! `notify = true`), so a test passes only where a host would serve (call [`deny_kv`] to
//! see the adapter cope without storage); a request with no canned answer is
//! `not-granted`, like a destination the operator did not approve.
//!
//! ```
//! use panjereh_plugin_sdk::http::{self, Method, Request};
//! use panjereh_plugin_sdk::testing;
//!
//! testing::set_config("base-url", "http://127.0.0.1:9101");
//! testing::respond(Method::Get, "http://127.0.0.1:9101/v1/ping", 200, r#"{"ok":true}"#);
//!
//! let base = panjereh_plugin_sdk::config::get("base-url").unwrap().unwrap();
//! let answer = http::send(&Request::get(format!("{base}/v1/ping"))).unwrap();
//! assert_eq!(answer.text(), r#"{"ok":true}"#);
//! assert_eq!(testing::requests().len(), 1);
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::http::{HttpError, Method, Request, Response};
use crate::log::Level;
use crate::types::{Actor, Assurance, CallContext, Citizen, Representation, SubjectKind, Text, Value};

/// The fixed time the fake clock starts at: 2025-11-28 09:00 UTC (1404/09/07, 12:30 in
/// Tehran), so answers that depend on the date are reproducible.
pub const DEFAULT_NOW_MS: u64 = 1_764_320_400_000;

type Handler = Box<dyn Fn(&Request) -> Option<Result<Response, HttpError>>>;

#[derive(Default)]
struct Fakes {
    config: BTreeMap<String, Option<String>>,
    kv: BTreeMap<String, Vec<u8>>,
    kv_denied: bool,
    handlers: Vec<Handler>,
    requests: Vec<Request>,
    logs: Vec<(Level, String)>,
    now_ms: Option<u64>,
    notified: Vec<(String, Text, Text)>,
    notify_denied: bool,
}

impl Fakes {
    /// A fresh set, granting storage and messages only if the crate's `manifest.toml` asks
    /// for them, as a host would (`kv-quota-kib`, `notify = true` under `[capabilities]`).
    /// Without a manifest (a crate that is not an adapter) both are granted.
    fn new() -> Fakes {
        let (kv, notify) = requested_in_manifest().unwrap_or((true, true));
        Fakes { kv_denied: !kv, notify_denied: !notify, ..Fakes::default() }
    }
}

/// Whether the manifest of the crate under test (`CARGO_MANIFEST_DIR/manifest.toml`, which
/// Cargo sets for tests) requests storage and messages.
fn requested_in_manifest() -> Option<(bool, bool)> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let text = std::fs::read_to_string(std::path::Path::new(&dir).join("manifest.toml")).ok()?;
    Some(capabilities_requested(&text))
}

/// `kv-quota-kib` and `notify = true` in a manifest's `[capabilities]` table.
fn capabilities_requested(manifest: &str) -> (bool, bool) {
    let (mut table, mut kv, mut notify) = (String::new(), false, false);
    for line in manifest.lines().map(|l| l.split('#').next().unwrap_or_default().trim()) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name.trim().to_owned();
        } else if table == "capabilities"
            && let Some((key, value)) = line.split_once('=')
        {
            match key.trim() {
                "kv-quota-kib" => kv = true,
                "notify" => notify = value.trim() == "true",
                _ => {}
            }
        }
    }
    (kv, notify)
}

thread_local! {
    static FAKES: RefCell<Fakes> = RefCell::new(Fakes::new());
}

fn with<T>(f: impl FnOnce(&mut Fakes) -> T) -> T {
    FAKES.with(|fakes| f(&mut fakes.borrow_mut()))
}

/// Forgets everything set up on this thread: configuration, storage, responses, logs, time.
pub fn reset() {
    with(|f| *f = Fakes::new());
}

/// Grants storage, as an operator would (the manifest must ask for it too, on a host).
pub fn grant_kv() {
    with(|f| f.kv_denied = false);
}

/// Grants a configuration key and gives it a value.
pub fn set_config(key: &str, value: &str) {
    with(|f| f.config.insert(key.to_owned(), Some(value.to_owned())));
}

/// Grants a configuration key without a value (`config::get` answers `Ok(None)`).
pub fn grant_config(key: &str) {
    with(|f| f.config.insert(key.to_owned(), None));
}

/// Makes storage answer `not-granted`, as when the operator did not grant `kv`.
pub fn deny_kv() {
    with(|f| f.kv_denied = true);
}

/// Everything in storage, by key.
pub fn kv_snapshot() -> BTreeMap<String, Vec<u8>> {
    with(|f| f.kv.clone())
}

/// Puts a value in storage before the adapter runs.
pub fn kv_insert(key: &str, value: impl Into<Vec<u8>>) {
    with(|f| f.kv.insert(key.to_owned(), value.into()));
}

/// Answers requests with this method whose URL starts with `url` with `status` and `body`.
/// Later registrations win over earlier ones.
pub fn respond(method: Method, url: &str, status: u16, body: impl Into<Vec<u8>>) {
    let url = url.to_owned();
    let response = Response::new(status, body);
    respond_with(move |request| {
        (request.method == method && request.url.starts_with(&url)).then(|| Ok(response.clone()))
    });
}

/// Makes requests whose URL starts with `url` fail with `error` (timeouts, refused
/// connections).
pub fn fail(url: &str, error: HttpError) {
    let url = url.to_owned();
    respond_with(move |request| request.url.starts_with(&url).then(|| Err(error.clone())));
}

/// Answers requests with a function; `None` passes the request to earlier registrations.
pub fn respond_with(handler: impl Fn(&Request) -> Option<Result<Response, HttpError>> + 'static) {
    with(|f| f.handlers.push(Box::new(handler)));
}

/// Every request the adapter sent, in order.
pub fn requests() -> Vec<Request> {
    with(|f| f.requests.clone())
}

/// Every log line the adapter wrote, in order.
pub fn logs() -> Vec<(Level, String)> {
    with(|f| f.logs.clone())
}

/// Sets the fake clock (milliseconds since the Unix epoch, UTC).
pub fn set_now_ms(ms: u64) {
    with(|f| f.now_ms = Some(ms));
}

/// A call context for `service` from an anonymous caller reading Persian.
pub fn context(service: &str) -> CallContext {
    CallContext { request_id: "0123456789abcdef".into(), service: service.into(), citizen: None, locale: "fa".into() }
}

/// A call context for `service` from a citizen signed in with a one-time code, whose
/// national ID was granted to the adapter.
pub fn signed_in(service: &str, national_id: &str) -> CallContext {
    CallContext {
        citizen: Some(Citizen {
            subject: format!("test-subject-{national_id}"),
            national_id: Some(national_id.into()),
            mobile: None,
            assurance: Assurance::Substantial,
            kind: SubjectKind::Person,
            actor: None,
        }),
        ..context(service)
    }
}

/// A call context for `service` from a signatory acting for the legal entity `legal_id`,
/// whose national legal ID was granted to the adapter.
pub fn for_company(service: &str, legal_id: &str) -> CallContext {
    let mut ctx = signed_in(service, legal_id);
    if let Some(citizen) = ctx.citizen.as_mut() {
        citizen.kind = SubjectKind::LegalEntity;
        citizen.actor = Some(Actor { subject: "test-signatory".into(), basis: Representation::Signatory });
    }
    ctx
}

/// The messages sent through [`crate::notify`] on this thread: agency reference, title, body.
pub fn notified() -> Vec<(String, Text, Text)> {
    with(|f| f.notified.clone())
}

/// Makes [`crate::notify::send`] answer `not-granted`, like a host whose operator did not
/// grant `notify`.
pub fn deny_notify() {
    with(|f| f.notify_denied = true);
}

/// Form values from `(name, value)` pairs, as the host would pass them.
pub fn input(pairs: &[(&str, &str)]) -> Vec<Value> {
    pairs.iter().map(|(name, value)| Value { name: (*name).into(), value: (*value).into() }).collect()
}

/// The fakes behind the capability functions in native builds, with the same signatures as
/// the generated imports.
pub(crate) mod fake {
    use super::*;

    pub mod log {
        use super::*;

        pub fn write(level: Level, message: &str) {
            with(|f| f.logs.push((level, message.to_owned())));
        }
    }

    pub mod notify {
        use super::*;
        use crate::notify::NotifyError;

        pub fn send(agency_reference: &str, title: &Text, body: &Text) -> Result<(), NotifyError> {
            with(|f| {
                if f.notify_denied {
                    return Err(NotifyError::NotGranted(
                        "messages to citizens (`notify`) are not granted to this adapter".into(),
                    ));
                }
                f.notified.push((agency_reference.to_owned(), title.clone(), body.clone()));
                Ok(())
            })
        }
    }

    pub mod config {
        use super::*;
        use crate::config::ConfigError;

        pub fn get(key: &str) -> Result<Option<String>, ConfigError> {
            with(|f| match f.config.get(key) {
                Some(value) => Ok(value.clone()),
                None => Err(ConfigError::NotGranted(format!("config key `{key}` is not granted to this adapter"))),
            })
        }
    }

    pub mod kv {
        use super::*;
        use crate::kv::KvError;

        fn check(f: &Fakes, key: &str) -> Result<(), KvError> {
            if f.kv_denied {
                return Err(KvError::NotGranted("key-value storage is not granted to this adapter".into()));
            }
            if key.is_empty() || key.len() > 256 {
                return Err(KvError::InvalidKey(format!("key of {} bytes (1 to 256 allowed)", key.len())));
            }
            Ok(())
        }

        pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
            with(|f| check(f, key).map(|()| f.kv.get(key).cloned()))
        }

        pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
            with(|f| {
                check(f, key)?;
                f.kv.insert(key.to_owned(), value.to_vec());
                Ok(())
            })
        }

        pub fn delete(key: &str) -> Result<(), KvError> {
            with(|f| {
                check(f, key)?;
                f.kv.remove(key);
                Ok(())
            })
        }

        pub fn list_keys(prefix: &str) -> Result<Vec<String>, KvError> {
            with(|f| {
                if f.kv_denied {
                    return Err(KvError::NotGranted("key-value storage is not granted to this adapter".into()));
                }
                Ok(f.kv.keys().filter(|k| k.starts_with(prefix)).take(1000).cloned().collect())
            })
        }
    }

    pub mod http {
        use super::*;

        pub fn send(request: &Request) -> Result<Response, HttpError> {
            // Handlers run outside the borrow so they may use the other fakes.
            let handlers = with(|f| {
                f.requests.push(request.clone());
                std::mem::take(&mut f.handlers)
            });
            let answer = handlers.iter().rev().find_map(|handler| handler(request));
            with(|f| {
                let added = std::mem::replace(&mut f.handlers, handlers);
                f.handlers.extend(added);
            });
            answer.unwrap_or_else(|| {
                Err(HttpError::NotGranted(format!(
                    "testing: no response registered for {:?} {}",
                    request.method, request.url
                )))
            })
        }
    }

    pub mod clock {
        use super::*;

        pub fn now_ms() -> u64 {
            with(|f| f.now_ms.unwrap_or(DEFAULT_NOW_MS))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;
    use crate::kv::KvError;

    #[test]
    fn config_is_deny_by_default() {
        assert!(matches!(crate::config::get("api-key"), Err(ConfigError::NotGranted(_))));
        grant_config("api-key");
        assert_eq!(crate::config::get("api-key"), Ok(None));
        set_config("api-key", "secret");
        assert_eq!(crate::config::get("api-key"), Ok(Some("secret".into())));
    }

    #[test]
    fn kv_keeps_values_until_reset() {
        crate::kv::set("a/1", b"one").unwrap();
        crate::kv::set("a/2", b"two").unwrap();
        crate::kv::set("b/1", b"three").unwrap();
        assert_eq!(crate::kv::list_keys("a/").unwrap(), ["a/1", "a/2"]);
        crate::kv::delete("a/1").unwrap();
        assert_eq!(crate::kv::get("a/1"), Ok(None));
        assert_eq!(kv_snapshot().len(), 2);
        assert!(matches!(crate::kv::set("", b""), Err(KvError::InvalidKey(_))));
        deny_kv();
        assert!(matches!(crate::kv::get("b/1"), Err(KvError::NotGranted(_))));
        reset();
        assert!(kv_snapshot().is_empty());
    }

    #[test]
    fn http_answers_from_the_latest_matching_registration() {
        respond(Method::Get, "http://back.end/v1/", 200, "old");
        respond(Method::Get, "http://back.end/v1/fines", 404, "none");
        let get = |url: &str| crate::http::send(&Request::get(url));
        assert_eq!(get("http://back.end/v1/fines?plate=1").unwrap().status, 404);
        assert_eq!(get("http://back.end/v1/other").unwrap().text(), "old");
        assert!(matches!(get("http://elsewhere/"), Err(HttpError::NotGranted(_))));
        fail("http://slow/", HttpError::Timeout);
        assert_eq!(get("http://slow/x"), Err(HttpError::Timeout));
        assert_eq!(requests().len(), 4);
    }

    #[test]
    fn handlers_may_use_other_fakes() {
        respond_with(|request| {
            crate::log::info("handler ran");
            Some(Ok(Response::new(201, request.url.clone())))
        });
        assert_eq!(crate::http::send(&Request::get("x")).unwrap().text(), "x");
        assert_eq!(logs(), [(Level::Info, "handler ran".to_owned())]);
    }

    #[test]
    fn clock_is_fixed_until_set() {
        assert_eq!(crate::clock::now_ms(), DEFAULT_NOW_MS);
        set_now_ms(5);
        assert_eq!(crate::clock::now_ms(), 5);
    }

    #[test]
    fn a_manifest_decides_what_the_fakes_grant() {
        let manifest =
            "id = \"a\"\n[capabilities]\nkv-quota-kib = 64 # a comment\nnotify = true\n[limits]\nnotify = false\n";
        assert_eq!(super::capabilities_requested(manifest), (true, true));
        assert_eq!(super::capabilities_requested("[capabilities]\nnotify = false\n"), (false, false));
        assert_eq!(super::capabilities_requested("[limits]\nkv-quota-kib = 1\n"), (false, false));
    }
}
