"""Stream and key names: the one place that knows how the keyspace is laid out.

Every key carries a Redis Cluster hash tag. Keys of one partition share ``{p<N>}`` so that a
Lua script may touch an input stream, its bookkeeping and an output stream together; registry
keys share ``{registry}``. Articles map onto partitions by a stable hash of their id, so all
events of one article stay in order on one shard.
"""

from __future__ import annotations

import enum
import zlib

PREFIX = "nw"


class Stream(enum.StrEnum):
    """The streams of the log, per partition."""

    FILED = "filed"  # ArticleFiled (editor commands)
    ENRICHED = "enriched"  # ArticleEnriched
    PUBLISHED = "published"  # ArticlePublished: the partner-facing stream
    DEAD = "dead"  # entries that kept failing, with their error


class Group(enum.StrEnum):
    """Consumer groups, one per worker kind."""

    ENRICH = "enrich"
    PUBLISH = "publish"
    WEBHOOKS = "webhooks"  # fans published items out to partners' webhook outboxes
    LIFECYCLE = "lifecycle"  # publish's reader of kills and embargo changes


def partition_of(article_id: str, partitions: int) -> int:
    """The partition an article's events live on (stable across processes and versions)."""
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    return zlib.crc32(article_id.encode()) % partitions


def partition_tag(partition: int) -> str:
    return f"{{p{partition}}}"


def stream_key(stream: Stream, partition: int = 0) -> str:
    """The Redis key of one stream of one partition, e.g. ``nw:{p0}:filed``."""
    return f"{PREFIX}:{partition_tag(partition)}:{stream.value}"


def partition_key(name: str, partition: int = 0) -> str:
    """A bookkeeping key that lives beside a partition's streams (same hash slot)."""
    return f"{PREFIX}:{partition_tag(partition)}:{name}"


def registry_key(name: str) -> str:
    """A key of the credential and partner registry (one hash slot: ``{registry}``)."""
    return f"{PREFIX}:{{registry}}:{name}"


def partner_key(partner: str, name: str) -> str:
    """A key of one partner's delivery state (outbox, log, dead letters share ``{partner:<name>}``)."""
    return f"{PREFIX}:{{partner:{partner}}}:{name}"


def vocab_key(name: str) -> str:
    """A key of the entity vocabulary (its event stream and projections share ``{vocab}``)."""
    return f"{PREFIX}:{{vocab}}:{name}"


def article_key(article_id: str, partition: int = 0) -> str:
    """Ingest's state of one article: its version and status (the check for ``If-Match``)."""
    return partition_key(f"article:{article_id}", partition)


def history_key(article_id: str, partition: int = 0) -> str:
    """Where each event of one article sits on the log: "<stream key> <entry id>", oldest first."""
    return partition_key(f"history:{article_id}", partition)


def item_key(article_id: str, partition: int = 0) -> str:
    """Publish's state of one article: the version partners have, one held back, whether killed."""
    return partition_key(f"item:{article_id}", partition)


def versions_key(article_id: str, partition: int = 0) -> str:
    """Every ninjs version of one article that publish built (version -> item JSON)."""
    return partition_key(f"versions:{article_id}", partition)


def embargo_key(partition: int = 0) -> str:
    """Articles held back by an embargo, scored by their release time (ms)."""
    return partition_key("embargoed", partition)


def idempotency_key(key_hash: str, partition: int = 0) -> str:
    """Where ingest remembers an ``Idempotency-Key`` (kept beside the filed stream)."""
    return partition_key(f"idem:{key_hash}", partition)
