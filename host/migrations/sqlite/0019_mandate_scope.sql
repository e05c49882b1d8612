-- A mandate may cover chosen agencies or services only: a JSON list of `agency` or
-- `agency/service` names. NULL is every service, as mandates given before this were.
ALTER TABLE mandates ADD COLUMN scope TEXT;
