-- depends: 0022.listed-units
-- People who sign in to the pages (issue 16), each under one organisation with one role; API keys stay for
-- machines. Passwords: argon2id hashes only. `session_generation` is in every session cookie: bumping it
-- ("sign out everywhere", disabling) ends every session of the person on its next request.
CREATE TABLE people (
    id                 bigserial   PRIMARY KEY,
    organisation_id    bigint      NOT NULL REFERENCES organisations (id),
    email              text        NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    name               text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role               text        NOT NULL CHECK (role IN ('pharmacist', 'warehouse', 'quality', 'inspector', 'admin')),
    password_hash      text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    session_generation integer     NOT NULL DEFAULT 1,
    -- an invitation from the organisation's admin: SHA-256 of the one-time link's token, until the person sets a
    -- password through it (meanwhile the hash above is of a random secret no one knows)
    invite_sha256      bytea       UNIQUE,
    invite_expires_at  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    disabled_at        timestamptz,
    CONSTRAINT people_email_key UNIQUE (email)
);
CREATE INDEX people_organisation ON people (organisation_id);

-- Failed sign-ins per bucket ('email:<address>', 'ip:<address>') and fixed window, the login throttle's
-- record. UNLOGGED as rate_limit_counters: a crash only starts a window over. Past windows are deleted as
-- sign-ins go.
CREATE UNLOGGED TABLE login_failures (
    bucket       text   NOT NULL,
    window_start bigint NOT NULL,  -- Unix seconds, a multiple of LOGIN_THROTTLE_WINDOW_SECONDS
    failures     integer NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

-- Every action a person takes through the pages: who, when, what, from which address, the outcome. Append-only:
-- the database itself refuses UPDATE, DELETE and TRUNCATE (records kept six years, DSCSA).
CREATE TABLE audit_trail (
    id              bigserial   PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    person_id       bigint      REFERENCES people (id),
    email           text        NOT NULL,  -- as typed for a failed sign-in of no known person
    organisation_id bigint      REFERENCES organisations (id),
    action          text        NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    subject         text        NOT NULL DEFAULT '' CHECK (length(subject) <= 512),
    address         text        NOT NULL DEFAULT '',
    outcome         text        NOT NULL CHECK (length(outcome) BETWEEN 1 AND 512)
);
CREATE INDEX audit_trail_organisation ON audit_trail (organisation_id, id);

CREATE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_trail is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_trail_no_update_delete BEFORE UPDATE OR DELETE ON audit_trail
    FOR EACH ROW EXECUTE FUNCTION audit_trail_append_only();
CREATE TRIGGER audit_trail_no_truncate BEFORE TRUNCATE ON audit_trail
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trail_append_only();

-- Verifications asked through the pharmacist's page are logged with channel 'web' (the detection rules read
-- every channel alike).
-- (0008 made the partitioned table while 0006's constraint still held the plain name: the name is looked up)
DO $$
DECLARE name text;
BEGIN
    SELECT conname INTO STRICT name FROM pg_constraint
    WHERE conrelid = 'verifications'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%channel%';
    EXECUTE format('ALTER TABLE verifications DROP CONSTRAINT %I', name);
END
$$;
ALTER TABLE verifications ADD CONSTRAINT verifications_channel CHECK (channel IN ('api', 'lvm', 'scan', 'web'));
