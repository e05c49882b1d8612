-- Acting for others. A session has an actor (the person who signed in, `citizen_id`) and
-- may act for a subject (`acting_for`, a citizens row: a legal entity, or a minor), on a
-- basis the registries confirm ('signatory' or 'guardian'). Citizens rows may now be legal
-- entities (their `national_id` is the 11-digit national legal ID). Applications, payments
-- and data-usage entries record the actor next to the subject when they differ.
ALTER TABLE sessions ADD COLUMN acting_for TEXT;
ALTER TABLE sessions ADD COLUMN acting_basis TEXT;
ALTER TABLE citizens ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';
ALTER TABLE applications ADD COLUMN actor_id TEXT;
ALTER TABLE payment_orders ADD COLUMN actor_id TEXT;
ALTER TABLE data_usage ADD COLUMN actor_id TEXT;
CREATE INDEX applications_actor ON applications (actor_id);
CREATE INDEX payment_orders_actor ON payment_orders (actor_id);
