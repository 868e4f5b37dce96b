"""Prometheus metrics, computed when scraped (so every gunicorn worker reports the same truth
without shared memory): chain head, indexer cursor and lag, mirror table sizes."""

from __future__ import annotations

import psycopg2
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

from app.db import health
from app.errors import PharmatrackError


class _Collector:
    def __init__(self, db, chain, version: str, supervisor: dict | None = None):
        self.db, self.chain, self.version, self.supervisor = db, chain, version, supervisor

    def collect(self):
        info = InfoMetricFamily("pharmatrack_build", "Service version")
        info.add_metric([], {"version": self.version})
        yield info
        up = GaugeMetricFamily("pharmatrack_dependency_up", "1 when the dependency answers", labels=["dependency"])
        head = cursor = None
        try:
            head = self.chain.block_number()
            up.add_metric(["chain"], 1)
        except PharmatrackError:
            up.add_metric(["chain"], 0)
        sizes = []
        try:
            with self.db.connection() as conn:
                cursor = health.mirror_cursor_block(conn)
                sizes = health.mirror_table_sizes(conn)
            up.add_metric(["database"], 1)
        except (PharmatrackError, psycopg2.errors.UndefinedTable):
            up.add_metric(["database"], 0)
        yield up
        if head is not None:
            yield GaugeMetricFamily("pharmatrack_chain_head_block", "Latest block number of the chain", value=head)
        if cursor is not None:
            yield GaugeMetricFamily("pharmatrack_indexer_cursor_block", "Last block the mirror holds", value=cursor)
        if head is not None and cursor is not None:
            yield GaugeMetricFamily(
                "pharmatrack_indexer_lag_blocks", "Chain head minus indexer cursor", value=max(0, head - cursor)
            )
        rows = GaugeMetricFamily(
            "pharmatrack_mirror_rows",
            "Live rows per mirror table (Postgres statistics, a second behind)",
            labels=["table"],
        )
        for name, count in sizes:
            rows.add_metric([name], max(count, 0))
        yield rows
        yield from supervisor_metrics(self.supervisor)


def supervisor_metrics(status: dict | None):
    """Restarts and liveness of the processes `pharmatrack up` supervises (from its status file)."""
    if not status:
        return
    restarts = CounterMetricFamily(
        "pharmatrack_process_restarts", "Times `up` restarted a process since it started", labels=["process"]
    )
    running = GaugeMetricFamily("pharmatrack_process_up", "1 while the supervised process runs", labels=["process"])
    for name, child in sorted(status.get("children", {}).items()):
        restarts.add_metric([name], child.get("restarts", 0))
        running.add_metric([name], 1 if child.get("state") == "running" else 0)
    yield restarts
    yield running


def render(db, chain, version: str, supervisor: dict | None = None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(db, chain, version, supervisor))
    return generate_latest(registry)
