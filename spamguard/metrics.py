"""Prometheus metrics of one app, honest across gunicorn workers.

Under `spamguard serve`, PROMETHEUS_MULTIPROC_DIR is set before any worker starts, every worker writes
its samples to files there, and /metrics (served by whichever worker) adds them all up. Without it
(tests, `--dev`) the numbers are this process's own.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_VAR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Sub-millisecond resolution where the hot path lives, up to a second for the odd stall.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1.0)
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0)


class Metrics:
    """The service's metrics, registered on a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "spamguard_requests", "HTTP requests answered, by endpoint, status, decision and site",
            ["endpoint", "status", "decision", "site"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "spamguard_request_seconds", "time from request to response, by endpoint", ["endpoint"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.score_time = Histogram(
            "spamguard_score_seconds", "time the model took to score one comment",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.store_write = Histogram(
            "spamguard_store_write_seconds", "time to store one scored comment",
            buckets=STORE_BUCKETS, registry=r,
        )  # fmt: skip
        self.over_budget = Counter(
            "spamguard_over_budget", "POST /score answers slower than SPAMGUARD_LATENCY_BUDGET_MS", registry=r
        )
        self.unscored = Counter(
            "spamguard_unscored",
            "comments held unscored, by why (no_model, score_error)",
            ["why"],
            registry=r,
        )
        self.reloads = Counter(
            "spamguard_model_reloads", "model versions a worker switched to (loaded) or refused", ["outcome"],
            registry=r,
        )  # fmt: skip
        self.model_version = Gauge(
            "spamguard_model_version_info", "1 for the model version a worker serves", ["version"],
            multiprocess_mode="liveall", registry=r,
        )  # fmt: skip
        self.budget = Gauge(
            "spamguard_latency_budget_seconds", "the configured SPAMGUARD_LATENCY_BUDGET_MS",
            multiprocess_mode="liveall", registry=r,
        )  # fmt: skip

        self.spool_records = Gauge(
            "spamguard_spool_records", "scored comments waiting in the local spool for the store",
            multiprocess_mode="livemax", registry=r,
        )  # fmt: skip
        self.spooled = Counter(
            "spamguard_spooled", "scored comments written to the spool (spooled) or to neither (failed)",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.spool_drained = Counter(
            "spamguard_spool_drained", "spooled comments written to the store: stored, duplicate, failed",
            ["outcome"], registry=r,
        )  # fmt: skip

    def set_model(self, old: str | None, new: str | None) -> None:
        """Record which model version this worker serves."""
        if old is not None:
            self.model_version.labels(old).set(0)
        if new is not None:
            self.model_version.labels(new).set(1)

    def render(self) -> bytes:
        """Return the Prometheus text of every worker (or of this process)."""
        path = os.environ.get(MULTIPROC_VAR)
        # prometheus_client chose its storage when first imported; only files can be added up.
        if path and values.ValueClass is not values.MutexValue:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=path)
            return generate_latest(registry)
        return generate_latest(self.registry)
