-- depends: 0010.status-changes-in-flight
-- Rate-limit counters shared by every API process (app/api/ratelimit.py): one row per bucket
-- (a client address's failed authentications, an API key's requests) and fixed window. UNLOGGED:
-- counters are cheap to lose in a crash (a window starts over) and writes skip the WAL. Rows of
-- past windows are deleted by the API as it goes.
CREATE UNLOGGED TABLE rate_limit_counters (
    bucket       text   NOT NULL,
    window_start bigint NOT NULL,  -- Unix seconds, a multiple of RATE_LIMIT_WINDOW_SECONDS
    hits         bigint NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
