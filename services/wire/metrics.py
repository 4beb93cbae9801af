"""The wire's status as Prometheus metrics (text exposition format), for ``GET /metrics`` on publish.

The figures are ``services.wire.status``'s, read from Redis at each scrape, so every replica of the
service answers the same and nothing is lost when one restarts. A process's own counters
(requests, batches) are not exported yet.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.wire.status import WireStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StatusCollector(Collector):
    def __init__(self, status: WireStatus) -> None:
        self.status = status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stream_labels = ["stream", "partition"]
        entries = GaugeMetricFamily("newswire_stream_entries", "Entries on a stream of the log", labels=stream_labels)
        age = GaugeMetricFamily("newswire_stream_last_entry_age_seconds",
                                "Seconds since the newest entry of a stream was added", labels=stream_labels)
        group_labels = ["group", "stream", "partition"]
        pending = GaugeMetricFamily("newswire_group_pending_entries",
                                    "Entries a consumer group has read and not yet acknowledged", labels=group_labels)
        lag = GaugeMetricFamily("newswire_group_lag_entries", "Entries a consumer group has not yet read",
                                labels=group_labels)
        consumers = GaugeMetricFamily("newswire_group_consumers", "Consumers a group has known", labels=group_labels)
        for s in self.status.streams:
            where = [s.stream, str(s.partition)]
            entries.add_metric(where, s.length)
            if s.last_entry_age_s is not None:
                age.add_metric(where, s.last_entry_age_s)
            for g in s.groups:
                pending.add_metric([g.name, *where], g.pending)
                consumers.add_metric([g.name, *where], g.consumers)
                if g.lag is not None:
                    lag.add_metric([g.name, *where], g.lag)
        yield from (entries, age, pending, lag, consumers)
        yield GaugeMetricFamily("newswire_dead_letters", "Entries parked after too many failed deliveries",
                                value=self.status.dead_letters)
        seen = GaugeMetricFamily("newswire_worker_last_seen_seconds", "Seconds since a worker's last heartbeat",
                                 labels=["consumer"])
        for w in self.status.workers:
            seen.add_metric([w.consumer], w.seen_s_ago)
        yield seen
        active = GaugeMetricFamily("newswire_partner_active", "1 for an active partner, 0 for a paused one",
                                   labels=["partner"])
        queued = GaugeMetricFamily("newswire_partner_webhook_queued", "Items waiting in a partner's webhook outbox",
                                   labels=["partner"])
        dead = GaugeMetricFamily("newswire_partner_webhook_dead_letters",
                                 "Webhook deliveries a partner's endpoint kept refusing", labels=["partner"])
        for p in self.status.partners:
            active.add_metric([p.name], 1 if p.status == "active" else 0)
            if p.webhook_queued is not None and p.webhook_dead is not None:
                queued.add_metric([p.name], p.webhook_queued)
                dead.add_metric([p.name], p.webhook_dead)
        yield from (active, queued, dead)
        server = self.status.server
        yield GaugeMetricFamily("newswire_server_used_memory_bytes", "Memory the Redis server uses",
                                value=server.used_memory)
        yield GaugeMetricFamily("newswire_server_maxmemory_bytes", "The Redis server's memory limit (0: none set)",
                                value=server.maxmemory)
        if server.aof_bytes is not None and server.aof_base_bytes is not None:
            yield GaugeMetricFamily("newswire_server_aof_bytes", "The size of the server's AOF", value=server.aof_bytes)
            yield GaugeMetricFamily("newswire_server_aof_base_bytes", "The size of the server's AOF after its last rewrite",
                                    value=server.aof_base_bytes)
        yield GaugeMetricFamily("newswire_server_aof_rewrite_in_progress", "1 while the server rewrites its AOF",
                                value=int(server.aof_rewriting))
        yield GaugeMetricFamily("newswire_server_aof_last_rewrite_ok", "1 if the server's last AOF rewrite succeeded",
                                value=int(server.aof_last_rewrite_ok))


def prometheus_text(status: WireStatus) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StatusCollector(status))
    return generate_latest(registry)
