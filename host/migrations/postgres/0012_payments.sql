-- Payment orders: a citizen paying a bill (bill ID + payment ID) or an application's fee
-- through the card payment gateway (PSP). `state` moves created -> redirected -> returned
-- -> verified -> settled, or ends failed / reversed / expired; every move is one UPDATE
-- conditional on the state it leaves, with an audit entry. The reconciler claims orders
-- that are due (`next_check_ms`) with a lease, so one replica handles each at a time.
CREATE TABLE payment_orders (
    id              TEXT PRIMARY KEY,
    -- The citizen's pseudonym; NULL for a bill paid without signing in.
    citizen_id      TEXT,
    -- 'bill:<bill id>:<payment id>': what may be paid only once.
    item_key        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    bill_id         TEXT NOT NULL,
    payment_id      TEXT NOT NULL,
    -- The application whose fee this is (kind 'fee').
    tracking_code   TEXT,
    -- The agency whose adapter hears of the payment, when known.
    agency          TEXT,
    amount_rial     BIGINT NOT NULL,
    state           TEXT NOT NULL,
    psp_token       TEXT,
    rrn             TEXT,
    trace           TEXT,
    masked_card     TEXT,
    failure         TEXT,
    review          TEXT,
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL,
    settled_ms      BIGINT,
    next_check_ms   BIGINT NOT NULL,
    checks          BIGINT NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until_ms  BIGINT NOT NULL DEFAULT 0,
    notified_ms     BIGINT,
    notify_attempts BIGINT NOT NULL DEFAULT 0,
    notify_error    TEXT
);
-- Exactly once: at most one verified or settled order per bill.
CREATE UNIQUE INDEX payment_orders_paid_once ON payment_orders (item_key) WHERE state IN ('verified', 'settled');
CREATE UNIQUE INDEX payment_orders_token ON payment_orders (psp_token);
CREATE INDEX payment_orders_due ON payment_orders (next_check_ms);
CREATE INDEX payment_orders_citizen ON payment_orders (citizen_id, created_ms);
