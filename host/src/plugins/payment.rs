//! Telling an adapter that a citizen's payment was settled (`on-payment`, since WIT 0.2.0).
//!
//! The payments code calls [`Adapter::on_payment`] once a payment service provider
//! settled a payment of one of the adapter's bills (from a document, receipt or status
//! update) or of an application's fee. The call runs like every other: a fresh instance,
//! the adapter's limits, the answer held to the caps of [`super::bounds`], and metrics
//! under the operation `on-payment`. An adapter built for 0.1.0 has no `on-payment`: the
//! answer is `Ok(Ok(None))`, nothing to do, without instantiating it.

use super::{Adapter, Operation, Outcome, bounds};
use crate::runtime::bindings::{BillRef, CallContext, FeeRef, PaidItem as WitPaidItem, Payment, StatusUpdate};

/// A settled payment, as the host's payments code knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentNotice {
    /// The host's id of the payment order.
    pub order_id: String,
    /// What was paid for.
    pub item: PaidItem,
    /// The amount settled, in rials.
    pub amount_rial: u64,
    /// The retrieval reference number of the card transaction.
    pub rrn: String,
    /// The payment service provider's trace number.
    pub trace: String,
    /// The card, first 6 and last 4 digits.
    pub masked_card: String,
    /// When it was settled, in milliseconds since the Unix epoch.
    pub paid_at_ms: i64,
}

/// What a payment paid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaidItem {
    /// A bill the adapter handed out, by its bill ID and payment ID.
    Bill { bill_id: String, payment_id: String },
    /// The fee of an application, by the agency's reference from its receipt.
    Fee { agency_reference: String },
}

impl PaymentNotice {
    /// The WIT `payment` the adapter receives; `paid-at` is RFC 3339 in UTC with
    /// milliseconds.
    fn to_wit(&self) -> Payment {
        Payment {
            order_id: self.order_id.clone(),
            item: match &self.item {
                PaidItem::Bill { bill_id, payment_id } => {
                    WitPaidItem::Bill(BillRef { bill_id: bill_id.clone(), payment_id: payment_id.clone() })
                }
                PaidItem::Fee { agency_reference } => {
                    WitPaidItem::Fee(FeeRef { agency_reference: agency_reference.clone() })
                }
            },
            amount_rial: self.amount_rial,
            rrn: self.rrn.clone(),
            trace: self.trace.clone(),
            masked_card: self.masked_card.clone(),
            paid_at: crate::text::rfc3339(self.paid_at_ms),
        }
    }
}

impl Adapter {
    /// Calls `on-payment` in a fresh instance: the status change the payment caused, or
    /// `None` when there is nothing to report (always for a 0.1.0 adapter).
    pub async fn on_payment(&self, ctx: CallContext, notice: &PaymentNotice) -> Outcome<Option<StatusUpdate>> {
        if !self.exec.release().has_on_payment() {
            return Ok(Ok(None));
        }
        let (request_id, service) = (ctx.request_id.clone(), ctx.service.clone());
        let payment = notice.to_wit();
        let check = |update: &Option<StatusUpdate>| update.as_ref().map_or(Ok(()), bounds::status_update);
        let called = self
            .call(
                Operation::OnPayment,
                &request_id,
                &service,
                move |a, store| Box::pin(async move { a.call_on_payment(store, &ctx, &payment).await }),
                check,
            )
            .await;
        self.committed(&request_id, called).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_becomes_the_wit_payment() {
        let notice = PaymentNotice {
            order_id: "o-1".into(),
            item: PaidItem::Fee { agency_reference: "BP-1".into() },
            amount_rial: 2_500_000,
            rrn: "123456789012".into(),
            trace: "654321".into(),
            masked_card: "603799******1234".into(),
            paid_at_ms: 1_764_584_130_042,
        };
        let payment = notice.to_wit();
        assert_eq!(payment.paid_at, "2025-12-01T10:15:30.042Z");
        assert!(
            matches!(payment.item, WitPaidItem::Fee(FeeRef { ref agency_reference }) if agency_reference == "BP-1")
        );
        assert_eq!(payment.amount_rial, 2_500_000);
    }
}
