//! Citizens pay bills and fees through a card payment gateway (PSP), exactly once.
//!
//! An order moves through a state machine stored in `payment_orders`
//! (`store::payments`): created → redirected → returned → verified → settled, or failed /
//! reversed / expired. Every move is one conditional `UPDATE` and one audit entry
//! (`payment.<state>`). Nothing the browser brings back is trusted: the callback only
//! says "look now", and the host asks the PSP server to server. The amount the PSP
//! verified must be the order's, the order must be the token's, and a bill may be paid
//! once (a unique index on verified and settled orders): anything else is reversed.
//!
//! One driver, [`Payments::advance`], moves an order as far as the PSP allows. The
//! callback runs it at once; the reconciler ([`Payments::spawn_reconciler`]) runs it for
//! every order that is due, claimed with a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), so orders left half done by a crash, a timeout or a closed tab are
//! finished by exactly one replica.
//!
//! # Layout
//! - [`psp`]: the gateway's HTTP API.
//! - This file: what can be paid ([`Payable`]), starting an order, the callback, the
//!   driver and the reconciler.

pub mod psp;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use self::psp::{Psp, PspAnswer, PspError};
use crate::audit::{Audit, Entry};
use crate::auth::session::Actor;
use crate::config::PaymentSettings;
use crate::plugins::{PaidItem, PaymentNotice, Registry};
use crate::runtime::bindings::CallContext;
use crate::store::payments::{self as orders, Change, Order, State};
use crate::store::{Db, applications, is_unique_violation, mandates, now_ms, random_id};
use crate::window::ServiceError;

/// A token the citizen never paid with is given up after this long (PSPs expire theirs).
const TOKEN_LIFETIME: Duration = Duration::from_secs(20 * 60);
/// The longest wait between two looks at a stuck order.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What a citizen pays.
#[derive(Debug, Clone)]
pub enum Payable {
    /// A bill, as every Iranian bank app pays one: its bill ID and payment ID (the amount
    /// is read from the payment ID). `agency` is whose adapter hears of it, if known.
    Bill { bill_id: String, payment_id: String, agency: Option<String> },
    /// A bill attached to one of the citizen's applications (a fee).
    Fee { tracking_code: String, bill_id: String, payment_id: String },
}

/// Why a payment could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("the bill is not valid: {0}")]
    InvalidBill(panjereh_formats::bill::BillError),
    #[error("the amount {given} does not match the {encoded} rials the payment ID encodes")]
    AmountMismatch { given: u64, encoded: u64 },
    #[error("this bill was already paid (order {order_id})")]
    AlreadyPaid { order_id: String },
    #[error("no such application of this citizen")]
    NoApplication,
    #[error("the application has no such bill")]
    NotBilled,
    #[error("a fee is paid by the applicant, signed in")]
    SignInRequired,
    #[error("whoever pays for the citizen may not pay this (outside their mandate or consent)")]
    OutsideMandate,
    #[error("the payment gateway refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Unreachable(#[from] PspError),
    #[error("no such payment")]
    NotFound,
    #[error("the callback does not belong to this payment")]
    Tampered,
    #[error("storage failed: {0}")]
    Store(#[from] sqlx::Error),
}

/// The payments service of one replica.
#[derive(Debug)]
pub struct Payments {
    psp: Psp,
    db: Db,
    audit: Audit,
    registry: Arc<Registry>,
    /// This replica's name on the leases it takes.
    owner: String,
}

fn item_key(bill_id: &str, payment_id: &str) -> String {
    format!("bill:{bill_id}:{payment_id}")
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl Payments {
    pub fn new(settings: PaymentSettings, db: Db, audit: Audit, registry: Arc<Registry>) -> anyhow::Result<Payments> {
        Ok(Payments { psp: Psp::new(settings)?, db, audit, registry, owner: random_id() })
    }

    /// How long a replica holds an order it is moving: long enough for the four requests
    /// a step may make, each bounded by the PSP timeout.
    fn lease(&self) -> Duration {
        self.psp.settings().timeout * 4 + Duration::from_secs(5)
    }

    /// The PSP page an order's citizen pays on.
    pub fn pay_url(&self, order: &Order) -> Option<String> {
        (order.state == State::Redirected).then(|| order.psp_token.as_deref().map(|t| self.psp.pay_url(t))).flatten()
    }

    /// Opens an order for `payable` and asks the PSP for a token: the answer is the order,
    /// `redirected`, with the page to send the citizen to. A bill already paid is refused
    /// here, before any money moves.
    /// `citizen` is whom the payment is for; `actor`, who pays for them, if someone else,
    /// within what their right covers: a fee of an application of a service it covers, a
    /// bill of an agency it covers.
    pub async fn start(
        &self,
        citizen: Option<&str>,
        actor: Option<&Actor>,
        payable: Payable,
    ) -> Result<(Order, String), PaymentError> {
        let scope = actor.and_then(|a| a.scope.as_deref());
        let (bill_id, payment_id, tracking_code, agency, kind) = match payable {
            Payable::Bill { bill_id, payment_id, agency } => {
                if scope.is_some() && !agency.as_deref().is_some_and(|agency| mandates::covers_agency(scope, agency)) {
                    return Err(PaymentError::OutsideMandate);
                }
                (bill_id, payment_id, None, agency, "bill")
            }
            Payable::Fee { tracking_code, bill_id, payment_id } => {
                let citizen = citizen.ok_or(PaymentError::SignInRequired)?;
                let code = crate::tracking::parse(&tracking_code).map_err(|_| PaymentError::NoApplication)?;
                let application = applications::by_tracking_code(&self.db, citizen, &code)
                    .await?
                    .ok_or(PaymentError::NoApplication)?;
                // A fee is one of the bills the agency attached to the application.
                let billed = application.bills.iter().any(|b| {
                    panjereh_formats::bill::decode(&b.bill_id, &b.payment_id).is_ok_and(|known| {
                        panjereh_formats::bill::decode(&bill_id, &payment_id)
                            .is_ok_and(|asked| asked.bill_id == known.bill_id && asked.payment_id == known.payment_id)
                    })
                });
                if !billed {
                    return Err(PaymentError::NotBilled);
                }
                if !mandates::covers(scope, &application.agency, &application.service) {
                    return Err(PaymentError::OutsideMandate);
                }
                (bill_id, payment_id, Some(code), Some(application.agency), "fee")
            }
        };
        let bill = panjereh_formats::bill::decode(&bill_id, &payment_id).map_err(PaymentError::InvalidBill)?;
        let key = item_key(&bill.bill_id, &bill.payment_id);
        if let Some(paid) = orders::paid(&self.db, &key).await? {
            return Err(PaymentError::AlreadyPaid { order_id: paid.id });
        }
        let now = now_ms();
        let order = Order {
            id: random_id(),
            citizen_id: citizen.map(str::to_owned),
            item_key: key,
            kind: kind.to_owned(),
            bill_id: bill.bill_id,
            payment_id: bill.payment_id,
            tracking_code,
            agency,
            amount_rial: bill.amount_rial as i64,
            state: State::Created,
            psp_token: None,
            rrn: None,
            trace: None,
            masked_card: None,
            failure: None,
            review: None,
            created_ms: now,
            updated_ms: now,
            settled_ms: None,
            next_check_ms: now + millis(self.psp.settings().stuck_after),
            checks: 0,
            notified_ms: None,
            notify_attempts: 0,
            notify_error: None,
            actor_id: actor.map(|a| a.subject.clone()),
        };
        orders::create(&self.db, &order).await?;
        self.evidence(&order, State::Created, json!({"amount_rial": order.amount_rial, "item": order.item_key})).await;
        let answer = match self.psp.token(&order.id, bill.amount_rial).await {
            Ok(answer) => answer,
            Err(error) => {
                // The citizen never saw a token, so nothing can be paid with it.
                let failure = format!("the gateway did not give a token: {error}");
                self.move_to(&order, State::Failed, Change { failure: Some(failure), ..Change::default() }).await?;
                return Err(error.into());
            }
        };
        if answer.status != 0 || answer.token.is_empty() {
            let failure = format!("the gateway refused a token ({}: {})", answer.status, answer.message);
            self.move_to(&order, State::Failed, Change { failure: Some(failure.clone()), ..Change::default() }).await?;
            return Err(PaymentError::Refused(failure));
        }
        let token = answer.token;
        self.move_to(&order, State::Redirected, Change { psp_token: Some(token.clone()), ..Change::default() }).await?;
        let order = orders::get(&self.db, &order.id).await?.ok_or(PaymentError::NotFound)?;
        Ok((order, self.psp.pay_url(&token)))
    }

    /// The PSP sent the citizen back with `token` for `order_id`. The claim is checked
    /// against the stored order, then the order is moved on by asking the PSP.
    pub async fn callback(&self, token: &str, order_id: &str, claimed: &str) -> Result<Order, PaymentError> {
        let order = orders::by_token(&self.db, token).await?.ok_or(PaymentError::NotFound)?;
        if order.id != order_id {
            tracing::warn!(order = %order.id, claimed = %order_id, "payment callback for another order's token");
            return Err(PaymentError::Tampered);
        }
        if order.state == State::Redirected
            && orders::transition(&self.db, &order.id, State::Redirected, State::Returned, &Change::default(), now_ms())
                .await?
        {
            self.evidence(&order, State::Returned, json!({"claimed": claimed})).await;
        }
        self.advance(&order.id).await
    }

    /// Moves an order as far as the PSP allows, holding its lease meanwhile; an order
    /// another replica holds is left to it.
    pub async fn advance(&self, id: &str) -> Result<Order, PaymentError> {
        let now = now_ms();
        if orders::lease(&self.db, id, &self.owner, now, now + millis(self.lease())).await? {
            let order = orders::get(&self.db, id).await?.ok_or(PaymentError::NotFound)?;
            self.drive(order).await;
        }
        orders::get(&self.db, id).await?.ok_or(PaymentError::NotFound)
    }

    /// Steps a leased order until it stops moving, then releases it with the time of the
    /// next look.
    async fn drive(&self, mut order: Order) {
        let mut moved = true;
        let mut checked = false;
        while moved && (order.state.is_open() || self.needs_notice(&order)) {
            match self.step(&order).await {
                Ok(next) => {
                    moved = next;
                    checked |= !next;
                }
                Err(error) => {
                    tracing::warn!(order = %order.id, state = order.state.name(), %error, "payment step failed; the reconciler tries again");
                    moved = false;
                    checked = true;
                }
            }
            match orders::get(&self.db, &order.id).await {
                Ok(Some(fresh)) => order = fresh,
                _ => break,
            }
        }
        let wait = Duration::from_secs(2u64.saturating_pow(order.checks.clamp(0, 16) as u32)).min(MAX_BACKOFF);
        let jitter = rand::random_range(0..=wait.as_millis() as u64 / 4);
        let next = now_ms() + millis(wait) + jitter as i64;
        if let Err(error) = orders::release(&self.db, &order.id, &self.owner, next, checked).await {
            tracing::warn!(order = %order.id, %error, "failed to release a payment order; its lease runs out");
        }
    }

    fn needs_notice(&self, order: &Order) -> bool {
        order.state == State::Settled && order.notified_ms.is_none() && order.agency.is_some()
    }

    /// One step; `true` when the order moved.
    async fn step(&self, order: &Order) -> Result<bool, PaymentError> {
        let age = Duration::from_millis((now_ms() - order.created_ms).max(0) as u64);
        let token = order.psp_token.clone().unwrap_or_default();
        match order.state {
            State::Created if age >= self.psp.settings().stuck_after => {
                let failure = Some("no payment page was ever opened for this order".to_owned());
                self.move_to(order, State::Expired, Change { failure, ..Change::default() }).await
            }
            State::Created => Ok(false),
            State::Redirected if age < self.psp.settings().stuck_after => Ok(false),
            State::Redirected => {
                let answer = self.psp.inquire(&token).await?;
                match answer.state.as_str() {
                    "paid" | "verified" | "settled" => self.move_to(order, State::Returned, Change::default()).await,
                    "pending" if age >= TOKEN_LIFETIME => {
                        let failure = Some("the citizen did not pay before the gateway's token ran out".to_owned());
                        self.move_to(order, State::Expired, Change { failure, ..Change::default() }).await
                    }
                    "canceled" | "failed" => self.fail(order, &answer).await,
                    "reversed" => self.reversed(order, "the gateway reversed the payment".to_owned()).await,
                    _ => Ok(false),
                }
            }
            State::Returned => {
                let answer = self.psp.verify(&token).await?;
                if answer.status != 0 {
                    return match answer.status {
                        48 => self.reversed(order, "the gateway reversed the payment".to_owned()).await,
                        _ => self.fail(order, &answer).await,
                    };
                }
                if answer.order_id != order.id || answer.amount != order.amount_rial as u64 {
                    let why = format!(
                        "the gateway verified {} rials for order {}, not {} rials for this order",
                        answer.amount, answer.order_id, order.amount_rial
                    );
                    return self.reverse(order, why).await;
                }
                let change = Change {
                    rrn: Some(answer.rrn.clone()),
                    trace: Some(answer.trace.clone()),
                    masked_card: Some(answer.masked_card.clone()),
                    ..Change::default()
                };
                match self.move_to(order, State::Verified, change).await {
                    Err(PaymentError::Store(error)) if is_unique_violation(&error) => {
                        let paid = orders::paid(&self.db, &order.item_key).await?.map(|o| o.id).unwrap_or_default();
                        self.reverse(order, format!("the bill was already paid by order {paid}")).await
                    }
                    moved => moved,
                }
            }
            State::Verified => {
                let answer = self.psp.settle(&token).await?;
                match answer.status {
                    0 => {
                        let change = Change { settled_ms: Some(now_ms()), ..Change::default() };
                        let moved = self.move_to(order, State::Settled, change).await?;
                        if moved && order.citizen_id.is_some() {
                            // The receipt reaches the citizen's inbox through the job queue.
                            let payload = json!({"payment": order.id});
                            let key = format!("receipt:{}", order.id);
                            crate::store::jobs::enqueue(
                                &self.db,
                                crate::background::RECEIPT,
                                &payload,
                                now_ms(),
                                Some(&key),
                                now_ms(),
                            )
                            .await?;
                        }
                        Ok(moved)
                    }
                    48 => {
                        self.reversed(order, "the gateway reversed the payment before it was settled".to_owned()).await
                    }
                    _ => Err(PaymentError::Refused(format!("settle: {} {}", answer.status, answer.message))),
                }
            }
            State::Settled if self.needs_notice(order) => self.notify(order).await,
            _ => Ok(false),
        }
    }

    /// Tells the agency's adapter that the order was settled (`on-payment`, contract
    /// 0.2.0). A failure is tried again later, durably (the order stays due until the
    /// adapter heard); it never reverses a settled payment. A status update the adapter
    /// answers goes into the application's history and the citizen's inbox.
    async fn notify(&self, order: &Order) -> Result<bool, PaymentError> {
        let Some(agency) = order.agency.as_deref() else {
            return Ok(false);
        };
        let Some(slot) = self.registry.get(agency).filter(|s| s.enabled) else {
            orders::notified(&self.db, &order.id, None, Some("the agency's adapter is not serving")).await?;
            return Ok(false);
        };
        let application = match &order.tracking_code {
            Some(code) => match &order.citizen_id {
                Some(citizen) => applications::by_tracking_code(&self.db, citizen, code).await?,
                None => None,
            },
            None => None,
        };
        let item = match (&order.kind[..], application.as_ref().and_then(|a| a.agency_reference.clone())) {
            ("fee", Some(agency_reference)) => PaidItem::Fee { agency_reference },
            _ => PaidItem::Bill { bill_id: order.bill_id.clone(), payment_id: order.payment_id.clone() },
        };
        let notice = PaymentNotice {
            order_id: order.id.clone(),
            item,
            amount_rial: order.amount_rial as u64,
            rrn: order.rrn.clone().unwrap_or_default(),
            trace: order.trace.clone().unwrap_or_default(),
            masked_card: order.masked_card.clone().unwrap_or_default(),
            paid_at_ms: order.settled_ms.unwrap_or_else(now_ms),
        };
        let request_id = crate::window::call::new_request_id();
        let service = application.as_ref().map(|a| a.service.clone()).unwrap_or_default();
        let ctx = CallContext {
            request_id: request_id.clone(),
            service: service.clone(),
            citizen: None,
            locale: "fa".into(),
        };
        let adapter = &slot.adapter;
        let outcome = adapter.on_payment(ctx, &notice).await;
        let settled = crate::window::call::settle(adapter, &request_id, outcome);
        let evidence = crate::window::call::Call {
            operation: crate::plugins::Operation::OnPayment,
            adapter,
            service: &service,
            request_id: &request_id,
            actor: None,
            on_behalf_of: None,
            request_hash: crate::audit::sha256_hex(order.id.as_bytes()),
        };
        let answered = settled.as_ref().map(|u| {
            let status = u.as_ref().map(|u| u.status.as_str());
            serde_json::to_vec(&json!({"status": status})).unwrap_or_default()
        });
        // A failed write is logged; the order stays due and this runs again.
        if crate::window::call::record(&self.audit, evidence, answered.map_err(ServiceError::code)).await.is_err() {
            return Ok(false);
        }
        let update = match settled {
            Ok(update) => update,
            Err(error) => {
                orders::notified(&self.db, &order.id, None, Some(&error.to_string())).await?;
                return Ok(false);
            }
        };
        if let Some(update) = update {
            let target = match &application {
                Some(a) if a.agency_reference.as_deref() == Some(update.agency_reference.as_str()) => Some(a.clone()),
                _ => applications::by_agency_reference(&self.db, agency, &update.agency_reference).await?,
            };
            if let Some(target) = target {
                let event = applications::EventRow {
                    status: update.status.to_string(),
                    message_fa: update.message.fa.clone(),
                    message_en: update.message.en.clone(),
                    actor: "agency".to_owned(),
                    at_ms: now_ms(),
                };
                applications::append_event(&self.db, &target.id, &event).await?;
                applications::add_bills(
                    &self.db,
                    &target.id,
                    &update.bills.iter().map(applications::StoredBill::from).collect::<Vec<_>>(),
                )
                .await?;
                let payload = json!({"application": target.id});
                crate::store::jobs::enqueue(&self.db, crate::background::CHANGED, &payload, now_ms(), None, now_ms())
                    .await?;
            }
        }
        orders::notified(&self.db, &order.id, Some(now_ms()), None).await?;
        Ok(true)
    }

    async fn fail(&self, order: &Order, answer: &PspAnswer) -> Result<bool, PaymentError> {
        let failure = match answer.state.as_str() {
            "canceled" => "the citizen canceled on the payment page".to_owned(),
            _ => format!("the gateway did not confirm the payment ({}: {})", answer.status, answer.message),
        };
        self.move_to(order, State::Failed, Change { failure: Some(failure), ..Change::default() }).await
    }

    /// Gives the money back, then records the order reversed.
    async fn reverse(&self, order: &Order, why: String) -> Result<bool, PaymentError> {
        let token = order.psp_token.clone().unwrap_or_default();
        let answer = self.psp.reverse(&token).await?;
        if answer.status != 0 {
            return Err(PaymentError::Refused(format!("reverse: {} {}", answer.status, answer.message)));
        }
        tracing::warn!(order = %order.id, %why, "payment reversed");
        self.reversed(order, why).await
    }

    async fn reversed(&self, order: &Order, why: String) -> Result<bool, PaymentError> {
        self.move_to(order, State::Reversed, Change { failure: Some(why), ..Change::default() }).await
    }

    /// One move: the conditional update, then its evidence and metric.
    async fn move_to(&self, order: &Order, to: State, change: Change) -> Result<bool, PaymentError> {
        let moved = orders::transition(&self.db, &order.id, order.state, to, &change, now_ms()).await?;
        if moved {
            let data = json!({
                "from": order.state.name(),
                "amount_rial": order.amount_rial,
                "item": order.item_key,
                "rrn": change.rrn,
                "failure": change.failure,
            });
            self.evidence(order, to, data).await;
        }
        Ok(moved)
    }

    async fn evidence(&self, order: &Order, to: State, data: serde_json::Value) {
        metrics::counter!("panjereh_payments_total", "state" => to.name()).increment(1);
        let entry = Entry {
            kind: format!("payment.{}", to.name()),
            actor: order
                .actor_id
                .clone()
                .or_else(|| order.citizen_id.clone())
                .unwrap_or_else(|| "anonymous".to_owned()),
            subject: order.id.clone(),
            data,
        };
        if let Err(error) = self.audit.record(entry).await {
            tracing::error!(order = %order.id, error = %format!("{error:#}"), "failed to record a payment move");
        }
    }

    /// Every `reconcile-every`, moves on the orders that are due, on whichever replica
    /// claims them first.
    pub fn spawn_reconciler(self: &Arc<Self>) {
        let payments = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(payments.psp.settings().reconcile_every);
            loop {
                tick.tick().await;
                if let Err(error) = payments.reconcile_once().await {
                    tracing::warn!(%error, "payment reconciliation failed");
                }
            }
        });
    }

    /// Claims the orders that are due and moves each on; returns how many it looked at.
    pub async fn reconcile_once(&self) -> Result<usize, PaymentError> {
        let now = now_ms();
        let due = orders::claim_due(&self.db, &self.owner, now, now + millis(self.lease()), 20).await?;
        let count = due.len();
        for order in due {
            self.drive(order).await;
        }
        Ok(count)
    }
}
