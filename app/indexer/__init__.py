"""The indexer: chain events → Postgres mirror."""
