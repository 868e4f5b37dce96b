"""EPCIS 2.0 and CBV 2.0: events out of the chain's custody history (export, query) and into the outbox (capture)."""
