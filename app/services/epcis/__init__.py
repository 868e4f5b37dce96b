"""EPCIS 2.0 / CBV 2.0: export and query of the custody events (issue 15)."""
