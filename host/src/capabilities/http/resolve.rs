//! Name resolution for outbound HTTP, injectable so that tests decide what every name
//! resolves to and no lookup leaves the machine.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

/// The future a [`Resolve`] returns.
pub type Resolving<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Turns a host name into addresses. The egress client checks every address it returns
/// against the policy and connects only to checked addresses.
pub trait Resolve: Send + Sync + std::fmt::Debug {
    /// The addresses of `name` (never an IP literal: those are not resolved).
    fn resolve<'a>(&'a self, name: &'a str) -> Resolving<'a>;
}

/// The operating system's resolver (`getaddrinfo` on a blocking thread).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(&'a self, name: &'a str) -> Resolving<'a> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((name, 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Fixed answers for some names, like `/etc/hosts`; other names go to `fallback`, or fail
/// when there is none. Operators use it to pin back-end names (`[egress.hosts]`); tests use
/// [`StaticResolver::only`] so that no name is ever looked up outside the test.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    names: BTreeMap<String, Vec<IpAddr>>,
    fallback: Option<Arc<dyn Resolve>>,
}

/// The resolver tests use: only the names they map, nothing else.
pub type TestResolver = StaticResolver;

impl StaticResolver {
    /// Answers only for `names` (case-insensitive); every other name fails to resolve.
    pub fn only<I, N>(names: I) -> StaticResolver
    where
        I: IntoIterator<Item = (N, Vec<IpAddr>)>,
        N: AsRef<str>,
    {
        StaticResolver {
            names: names.into_iter().map(|(n, a)| (n.as_ref().to_ascii_lowercase(), a)).collect(),
            fallback: None,
        }
    }

    /// Answers for `names`, asking `fallback` about the rest.
    pub fn with_fallback(self, fallback: Arc<dyn Resolve>) -> StaticResolver {
        StaticResolver { fallback: Some(fallback), ..self }
    }
}

impl Resolve for StaticResolver {
    fn resolve<'a>(&'a self, name: &'a str) -> Resolving<'a> {
        Box::pin(async move {
            if let Some(addrs) = self.names.get(&name.to_ascii_lowercase()) {
                return Ok(addrs.clone());
            }
            match &self.fallback {
                Some(fallback) => fallback.resolve(name).await,
                None => Err(io::Error::new(io::ErrorKind::NotFound, format!("no address for `{name}`"))),
            }
        })
    }
}
