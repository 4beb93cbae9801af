"""``python -m bench.dataset``: the server's keys by kind, in all and per story, on a real server."""

from __future__ import annotations

from redis.asyncio import Redis

from bench.dataset import kind_of, measure, render
from schemas.streams import Stream, history_key, idempotency_key, item_key, partner_key, registry_key, stream_key


def test_keys_are_grouped_by_kind_whatever_their_article_partition_or_partner() -> None:
    assert kind_of(item_key("urn:newswire:article:1f2e", 3)) == "nw:{p<N>}:item:<article>"
    assert kind_of(history_key("urn:newswire:article:9a", 0)) == "nw:{p<N>}:history:<article>"
    assert kind_of(idempotency_key("5f87c3", 1)) == "nw:{p<N>}:idem:<key>"
    assert kind_of(stream_key(Stream.PUBLISHED, 7)) == "nw:{p<N>}:published"
    assert kind_of(partner_key("harbour-gazette", "sent")) == "nw:{partner:<name>}:sent"
    assert kind_of(registry_key("credentials")) == "nw:{registry}:credentials"
    assert kind_of("someone-else:key") == "(not the wire's)"


async def test_every_key_is_counted_once_and_the_bytes_are_shared_over_the_stories(redis: Redis) -> None:
    for n in range(30):  # three stories on each of ten partitions; the first two, the ones counted, hold six
        partition = n % 10
        await redis.xadd(stream_key(Stream.FILED, partition), {"data": b"x" * 1000})
        await redis.hset(item_key(f"urn:newswire:article:{n}", partition), "published_version", "1")  # type: ignore[misc]
    await redis.set("someone-else:key", "v")
    kinds, stories = await measure(redis, partitions=2, batch=7)  # batches smaller than the keys
    by_name = {k.name: k for k in kinds}
    assert stories == 6
    assert by_name["nw:{p<N>}:filed"].keys == 10 and by_name["nw:{p<N>}:item:<article>"].keys == 30
    assert by_name["(not the wire's)"].keys == 1
    assert sum(k.keys for k in kinds) == 41
    assert by_name["nw:{p<N>}:filed"].bytes >= 30 * 1000  # the entries' data, all of it
    assert kinds[0].name == "nw:{p<N>}:filed"  # largest first
    text = render(kinds, stories)
    total = sum(k.bytes for k in kinds)
    assert text.startswith(f"6 stories on the filed streams; {total / 1e6:,.1f} MB in 41 keys, {total / 6:,.0f} bytes per story")
    assert f"| `nw:{{p<N>}}:filed` | 10 | {by_name['nw:{p<N>}:filed'].bytes / 1e6:,.2f} |" in text
