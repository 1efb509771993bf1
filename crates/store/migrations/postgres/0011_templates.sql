-- Satusky schema, version 11 (postgres): apps deployed from a marketplace template, and bindings
-- of a service's outputs into other apps' secrets. Kept in lockstep with the other backend's
-- 0011_templates.sql.

-- The template the app was last deployed from, as JSON: name, version, the plain parameter
-- values, and for each secret parameter the name of the app secret holding its value (the
-- value itself lives sealed in app_secrets only). NULL: deployed from a satusky.toml.
ALTER TABLE apps ADD COLUMN template TEXT;

-- An output of `service` (e.g. its connection URL) written into `target`'s secret `secret`.
-- One binding per target secret; both apps are in the same org.
CREATE TABLE bindings (
    org TEXT NOT NULL,
    target TEXT NOT NULL,
    secret TEXT NOT NULL,
    service TEXT NOT NULL,
    output TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org, target, secret)
);
CREATE INDEX bindings_by_service ON bindings (org, service);
