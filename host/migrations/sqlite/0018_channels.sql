-- How a citizen wants to hear from the window: channels besides the inbox (`sms`, `email`,
-- comma-separated), their e-mail address, and their language. Messages record how their
-- e-mail fared, as they do for SMS.
ALTER TABLE citizens ADD COLUMN email TEXT;
ALTER TABLE citizens ADD COLUMN channels TEXT NOT NULL DEFAULT 'sms';
ALTER TABLE citizens ADD COLUMN language TEXT NOT NULL DEFAULT 'fa';
ALTER TABLE messages ADD COLUMN email_state TEXT NOT NULL DEFAULT 'none';
