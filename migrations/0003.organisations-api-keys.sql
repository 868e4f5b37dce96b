-- depends: 0002.custody-events
-- The service's own record of trading partners (names and GLNs the chain does not hold) and the
-- API keys they authenticate with. A key is stored only as its SHA-256 (keys are 256-bit random
-- secrets, so a slow password hash adds nothing); its public prefix finds the row.
CREATE TABLE organisations (
    id            bigserial   PRIMARY KEY,
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    gln           char(13)    NOT NULL UNIQUE CHECK (gln ~ '^[0-9]{13}$'),
    account       bytea       NOT NULL UNIQUE CHECK (length(account) = 20),
    roles         text[]      NOT NULL CHECK (
                      cardinality(roles) > 0
                      AND roles <@ ARRAY['manufacturer', 'distributor', 'dispenser', 'regulator']::text[]
                  ),
    created_at    timestamptz NOT NULL DEFAULT now(),
    suspended_at  timestamptz
);

CREATE TABLE api_keys (
    id               bigserial   PRIMARY KEY,
    organisation_id  bigint      NOT NULL REFERENCES organisations (id),
    prefix           text        NOT NULL UNIQUE CHECK (prefix ~ '^[a-z0-9]{10}$'),
    secret_sha256    bytea       NOT NULL CHECK (length(secret_sha256) = 32),
    label            text        NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz,
    last_used_at     timestamptz
);
CREATE INDEX api_keys_organisation_idx ON api_keys (organisation_id);
