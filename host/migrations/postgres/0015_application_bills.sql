-- Bills an agency attached to an application (a fee on its receipt, a later charge on a
-- status update, contract 0.2.0), as JSON: [{bill_id, payment_id, amount_rial, title_fa,
-- title_en}]. A fee is paid only if it is one of them.
ALTER TABLE applications ADD COLUMN bills TEXT NOT NULL DEFAULT '[]';
