//! The contract releases this host serves, and one call surface over them.
//!
//! An adapter runs under the release it was built for: [`GuestPre`] holds its linked
//! component with where that release's exports are, and [`Guest`] calls it and answers in the
//! current release's types, so nothing above the runtime knows which release an adapter
//! speaks. An older release's answers are converted (see [`super::v0_1`]), and what it
//! cannot do is answered for it: a 0.1.0 adapter has no `on-payment`, so a payment is
//! "nothing to do" (`Ok(None)`) without a call.

use semver::Version;
use wasmtime::Store;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, HasSelf, Instance, InstancePre, Lift, Linker, Lower, TypedFunc,
};

use super::CallState;
use super::bindings::{
    AdapterError, Agency, AgencyAdapter, CallContext, Document, Payment, Receipt, StatusUpdate, Value, v0_1,
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

/// The signature of each export, as the call path lowers its arguments and lifts its
/// answer. A call checks the one export it calls against its signature;
/// [`GuestPre::instantiate_checked`] checks them all when the adapter is loaded.
mod sig {
    use super::v0_1::types as old;
    use super::{AdapterError, Agency, CallContext, Document, Payment, Receipt, StatusUpdate, Value};

    pub type Describe = ((), (Agency,));
    pub type Inquire<'a> = ((&'a CallContext, &'a [Value]), (Result<Document, AdapterError>,));
    pub type Submit<'a> = ((&'a CallContext, &'a [Value]), (Result<Receipt, AdapterError>,));
    pub type Status<'a> = ((&'a CallContext, &'a str), (Result<StatusUpdate, AdapterError>,));
    pub type OnCallback<'a> = ((&'a [u8],), (Result<StatusUpdate, AdapterError>,));
    pub type OnPayment<'a> = ((&'a CallContext, &'a Payment), (Result<Option<StatusUpdate>, AdapterError>,));

    pub type DescribeV0_1 = ((), (old::Agency,));
    pub type InquireV0_1<'a> = ((&'a old::CallContext, &'a [Value]), (Result<Document, AdapterError>,));
    pub type SubmitV0_1<'a> = ((&'a old::CallContext, &'a [Value]), (Result<old::Receipt, AdapterError>,));
    pub type StatusV0_1<'a> = ((&'a old::CallContext, &'a str), (Result<old::StatusUpdate, AdapterError>,));
    pub type OnCallbackV0_1<'a> = ((&'a [u8],), (Result<old::StatusUpdate, AdapterError>,));
}

/// An export's parameters and results, as a `(params, results)` pair of [`sig`].
trait Signature {
    type Params: ComponentNamedList + Lower + Send + Sync;
    type Results: ComponentNamedList + Lift + Send + Sync + 'static;
}

impl<P, R> Signature for (P, R)
where
    P: ComponentNamedList + Lower + Send + Sync,
    R: ComponentNamedList + Lift + Send + Sync + 'static,
{
    type Params = P;
    type Results = R;
}

/// Where the adapter interface's functions are in a component, found once at load: a call
/// looks up and type-checks only the export it calls, by index. (The generated bindings
/// look up and type-check every export on every instance.)
#[derive(Clone, Copy)]
struct Exports {
    describe: ComponentExportIndex,
    inquire: ComponentExportIndex,
    submit: ComponentExportIndex,
    status: ComponentExportIndex,
    on_callback: ComponentExportIndex,
    /// From 0.2.0.
    on_payment: Option<ComponentExportIndex>,
}

impl Exports {
    fn find(release: Release, component: &Component) -> wasmtime::Result<Exports> {
        let interface = format!("panjereh:adapter/adapter@{}", release.version());
        let adapter = component
            .get_export_index(None, &interface)
            .ok_or_else(|| wasmtime::format_err!("no exported instance named `{interface}`"))?;
        let func = |name: &str| {
            component
                .get_export_index(Some(&adapter), name)
                .ok_or_else(|| wasmtime::format_err!("`{interface}` does not export `{name}`"))
        };
        Ok(Exports {
            describe: func("describe")?,
            inquire: func("inquire")?,
            submit: func("submit")?,
            status: func("status")?,
            on_callback: func("on-callback")?,
            on_payment: if release.has_on_payment() { Some(func("on-payment")?) } else { None },
        })
    }

    /// Checks every export of `instance` against its [`sig`].
    fn check(&self, release: Release, store: &mut Store<CallState>, instance: &Instance) -> wasmtime::Result<()> {
        match release {
            Release::V0_1 => {
                typed::<sig::DescribeV0_1>(store, instance, self.describe)?;
                typed::<sig::InquireV0_1<'static>>(store, instance, self.inquire)?;
                typed::<sig::SubmitV0_1<'static>>(store, instance, self.submit)?;
                typed::<sig::StatusV0_1<'static>>(store, instance, self.status)?;
                typed::<sig::OnCallbackV0_1<'static>>(store, instance, self.on_callback)?;
            }
            Release::V0_2 => {
                typed::<sig::Describe>(store, instance, self.describe)?;
                typed::<sig::Inquire<'static>>(store, instance, self.inquire)?;
                typed::<sig::Submit<'static>>(store, instance, self.submit)?;
                typed::<sig::Status<'static>>(store, instance, self.status)?;
                typed::<sig::OnCallback<'static>>(store, instance, self.on_callback)?;
                let on_payment = self.on_payment.ok_or_else(|| wasmtime::format_err!("missing `on-payment`"))?;
                typed::<sig::OnPayment<'static>>(store, instance, on_payment)?;
            }
        }
        Ok(())
    }
}

/// The export of `instance` at `index`, checked against the signature `S`.
fn typed<S: Signature>(
    store: &mut Store<CallState>,
    instance: &Instance,
    index: ComponentExportIndex,
) -> wasmtime::Result<TypedFunc<S::Params, S::Results>> {
    let func = instance.get_func(&mut *store, index).ok_or_else(|| wasmtime::format_err!("missing export"))?;
    func.typed::<S::Params, S::Results>(store)
}

/// A linked component ready to instantiate, built for `release`.
pub struct GuestPre {
    release: Release,
    pre: InstancePre<CallState>,
    exports: Exports,
}

impl GuestPre {
    /// Finds the exports of `release`'s adapter interface in the component; their types
    /// are checked by [`GuestPre::instantiate_checked`].
    pub fn new(release: Release, pre: InstancePre<CallState>) -> wasmtime::Result<Self> {
        let exports = Exports::find(release, pre.component())?;
        Ok(GuestPre { release, pre, exports })
    }

    /// The release the component was built for.
    pub fn release(&self) -> Release {
        self.release
    }

    /// A fresh instance in `store`, with every export checked against the types the host
    /// calls it with: at load, so that an adapter whose exports do not match is refused
    /// then rather than at its first call.
    pub async fn instantiate_checked(&self, store: &mut Store<CallState>) -> wasmtime::Result<Guest> {
        let instance = self.pre.instantiate_async(&mut *store).await?;
        self.exports.check(self.release, store, &instance)?;
        Ok(Guest { release: self.release, instance, exports: self.exports })
    }

    /// A fresh instance in `store`.
    pub async fn instantiate_async(&self, store: &mut Store<CallState>) -> wasmtime::Result<Guest> {
        let instance = self.pre.instantiate_async(&mut *store).await?;
        Ok(Guest { release: self.release, instance, exports: self.exports })
    }
}

/// One instance of an adapter, whichever release it speaks. Every answer is in the
/// current release's types.
pub struct Guest {
    release: Release,
    instance: Instance,
    exports: Exports,
}

type Answer<T> = wasmtime::Result<Result<T, AdapterError>>;

impl Guest {
    /// Calls the export at `index` with `params`, checking its type first (this one export's
    /// only).
    async fn call<S: Signature>(
        &self,
        store: &mut Store<CallState>,
        index: ComponentExportIndex,
        params: S::Params,
    ) -> wasmtime::Result<S::Results> {
        typed::<S>(store, &self.instance, index)?.call_async(store, params).await
    }

    /// `describe`.
    pub async fn call_describe(&self, store: &mut Store<CallState>) -> wasmtime::Result<Agency> {
        Ok(match self.release {
            Release::V0_1 => self.call::<sig::DescribeV0_1>(store, self.exports.describe, ()).await?.0.into(),
            Release::V0_2 => self.call::<sig::Describe>(store, self.exports.describe, ()).await?.0,
        })
    }

    /// `inquire`.
    pub async fn call_inquire(
        &self,
        store: &mut Store<CallState>,
        ctx: &CallContext,
        input: &[Value],
    ) -> Answer<Document> {
        let index = self.exports.inquire;
        Ok(match self.release {
            Release::V0_1 => self.call::<sig::InquireV0_1<'_>>(store, index, (&ctx.into(), input)).await?.0,
            Release::V0_2 => self.call::<sig::Inquire<'_>>(store, index, (ctx, input)).await?.0,
        })
    }

    /// `submit`.
    pub async fn call_submit(
        &self,
        store: &mut Store<CallState>,
        ctx: &CallContext,
        input: &[Value],
    ) -> Answer<Receipt> {
        let index = self.exports.submit;
        Ok(match self.release {
            Release::V0_1 => {
                self.call::<sig::SubmitV0_1<'_>>(store, index, (&ctx.into(), input)).await?.0.map(Receipt::from)
            }
            Release::V0_2 => self.call::<sig::Submit<'_>>(store, index, (ctx, input)).await?.0,
        })
    }

    /// `status`.
    pub async fn call_status(
        &self,
        store: &mut Store<CallState>,
        ctx: &CallContext,
        reference: &str,
    ) -> Answer<StatusUpdate> {
        let index = self.exports.status;
        Ok(match self.release {
            Release::V0_1 => self
                .call::<sig::StatusV0_1<'_>>(store, index, (&ctx.into(), reference))
                .await?
                .0
                .map(StatusUpdate::from),
            Release::V0_2 => self.call::<sig::Status<'_>>(store, index, (ctx, reference)).await?.0,
        })
    }

    /// `on-callback`.
    pub async fn call_on_callback(&self, store: &mut Store<CallState>, body: &[u8]) -> Answer<StatusUpdate> {
        let index = self.exports.on_callback;
        Ok(match self.release {
            Release::V0_1 => {
                self.call::<sig::OnCallbackV0_1<'_>>(store, index, (body,)).await?.0.map(StatusUpdate::from)
            }
            Release::V0_2 => self.call::<sig::OnCallback<'_>>(store, index, (body,)).await?.0,
        })
    }

    /// `on-payment`; a 0.1.0 adapter has nothing to do.
    pub async fn call_on_payment(
        &self,
        store: &mut Store<CallState>,
        ctx: &CallContext,
        payment: &Payment,
    ) -> Answer<Option<StatusUpdate>> {
        match self.exports.on_payment {
            None => Ok(Ok(None)),
            Some(index) => Ok(self.call::<sig::OnPayment<'_>>(store, index, (ctx, payment)).await?.0),
        }
    }
}
