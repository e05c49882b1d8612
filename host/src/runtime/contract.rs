//! The contract releases this host serves, and one call surface over them.
//!
//! An adapter runs under the release it was built for: [`GuestPre`] holds its linked
//! component with that release's bindings, and [`Guest`] calls it and answers in the
//! current release's types, so nothing above the runtime knows which release an adapter
//! speaks. An older release's answers are converted (see [`super::v0_1`]), and what it
//! cannot do is answered for it: a 0.1.0 adapter has no `on-payment`, so a payment is
//! "nothing to do" (`Ok(None)`) without a call.

use semver::Version;
use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};

use super::CallState;
use super::bindings::{
    AdapterError, Agency, AgencyAdapter, AgencyAdapterPre, CallContext, Document, Payment, Receipt, StatusUpdate,
    Value, v0_1,
};

/// A release of the `panjereh:adapter` contract this host has bindings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// `wit/snapshots/0.1.0`.
    V0_1,
    /// `wit/snapshots/0.2.0`, the current one (`wit/`).
    V0_2,
}

impl Release {
    /// Every release served, oldest first.
    pub const ALL: [Release; 2] = [Release::V0_1, Release::V0_2];

    /// The contract's interfaces an adapter of this release may import.
    pub fn host_interfaces(self) -> &'static [&'static str] {
        match self {
            Release::V0_1 => &["types", "log", "config", "kv", "http", "clock"],
            Release::V0_2 => &["types", "log", "config", "kv", "http", "clock", "notify"],
        }
    }

    /// Whether adapters of this release export `on-payment`.
    pub fn has_on_payment(self) -> bool {
        self != Release::V0_1
    }

    /// The package version of the release.
    pub fn version(self) -> Version {
        match self {
            Release::V0_1 => Version::new(0, 1, 0),
            Release::V0_2 => Version::new(0, 2, 0),
        }
    }
}

/// Adds every release's host imports to `linker`: the current ones through its
/// bindings, and the same implementations under each older release's names.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    AgencyAdapter::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    super::v0_1::add_to_linker(linker)
}

/// A linked component ready to instantiate, with the bindings of its release.
pub enum GuestPre {
    V0_1(v0_1::AgencyAdapterPre<CallState>),
    V0_2(AgencyAdapterPre<CallState>),
}

impl GuestPre {
    /// Checks that the component exports `release`'s adapter interface with the expected
    /// function types.
    pub fn new(release: Release, pre: InstancePre<CallState>) -> wasmtime::Result<Self> {
        Ok(match release {
            Release::V0_1 => GuestPre::V0_1(v0_1::AgencyAdapterPre::new(pre)?),
            Release::V0_2 => GuestPre::V0_2(AgencyAdapterPre::new(pre)?),
        })
    }

    /// The release the component was built for.
    pub fn release(&self) -> Release {
        match self {
            GuestPre::V0_1(_) => Release::V0_1,
            GuestPre::V0_2(_) => Release::V0_2,
        }
    }

    /// A fresh instance in `store`.
    pub async fn instantiate_async(&self, store: &mut Store<CallState>) -> wasmtime::Result<Guest> {
        Ok(match self {
            GuestPre::V0_1(pre) => Guest::V0_1(pre.instantiate_async(store).await?),
            GuestPre::V0_2(pre) => Guest::V0_2(pre.instantiate_async(store).await?),
        })
    }
}

/// One instance of an adapter, whichever release it speaks. Every answer is in the
/// current release's types.
pub enum Guest {
    V0_1(v0_1::AgencyAdapter),
    V0_2(AgencyAdapter),
}

type Answer<T> = wasmtime::Result<Result<T, AdapterError>>;

impl Guest {
    /// `describe`.
    pub async fn call_describe(&self, store: &mut Store<CallState>) -> wasmtime::Result<Agency> {
        match self {
            Guest::V0_1(g) => Ok(g.panjereh_adapter_adapter().call_describe(store).await?.into()),
            Guest::V0_2(g) => g.panjereh_adapter_adapter().call_describe(store).await,
        }
    }

    /// `inquire`.
    pub async fn call_inquire(
        &self,
        store: &mut Store<CallState>,
        ctx: &CallContext,
        input: &[Value],
    ) -> Answer<Document> {
        match self {
            Guest::V0_1(g) => g.panjereh_adapter_adapter().call_inquire(store, &ctx.into(), input).await,
            Guest::V0_2(g) => g.panjereh_adapter_adapter().call_inquire(store, ctx, input).await,
        }
    }

    /// `submit`.
    pub async fn call_submit(
        &self,
        store: &mut Store<CallState>,
        ctx: &CallContext,
        input: &[Value],
    ) -> Answer<Receipt> {
        match self {
            Guest::V0_1(g) => {
                Ok(g.panjereh_adapter_adapter().call_submit(store, &ctx.into(), input).await?.map(Receipt::from))
            }
            Guest::V0_2(g) => g.panjereh_adapter_adapter().call_submit(store, ctx, input).await,
        }
    }

    /// `status`.
    pub async fn call_status(
        &self,
        store: &mut Store<CallState>,
        ctx: &CallContext,
        reference: &str,
    ) -> Answer<StatusUpdate> {
        match self {
            Guest::V0_1(g) => Ok(g
                .panjereh_adapter_adapter()
                .call_status(store, &ctx.into(), reference)
                .await?
                .map(StatusUpdate::from)),
            Guest::V0_2(g) => g.panjereh_adapter_adapter().call_status(store, ctx, reference).await,
        }
    }

    /// `on-callback`.
    pub async fn call_on_callback(&self, store: &mut Store<CallState>, body: &[u8]) -> Answer<StatusUpdate> {
        match self {
            Guest::V0_1(g) => {
                Ok(g.panjereh_adapter_adapter().call_on_callback(store, body).await?.map(StatusUpdate::from))
            }
            Guest::V0_2(g) => g.panjereh_adapter_adapter().call_on_callback(store, body).await,
        }
    }

    /// `on-payment`; a 0.1.0 adapter has nothing to do.
    pub async fn call_on_payment(
        &self,
        store: &mut Store<CallState>,
        ctx: &CallContext,
        payment: &Payment,
    ) -> Answer<Option<StatusUpdate>> {
        match self {
            Guest::V0_1(_) => Ok(Ok(None)),
            Guest::V0_2(g) => g.panjereh_adapter_adapter().call_on_payment(store, ctx, payment).await,
        }
    }
}
