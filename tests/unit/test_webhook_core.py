"""Webhook pure parts: retry schedule and outcomes, Standard Webhooks signatures, URL checks, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from schemas.partners import WebhookSecret
from services.publish.partners import new_webhook_secret
from services.publish.webhooks import WebhookSettings, WebhookUrlRefused, check_webhook_url
from services.publish.webhooks.policy import DEFAULT_SCHEDULE, Outcome, classify, parse_schedule, retry_delay
from services.publish.webhooks.signing import headers, sign
from services.publish.webhooks.ssrf import category
from services.wire.settings import SettingsError


def _now() -> datetime:
    """Now, when the test runs: the reference verifier refuses a timestamp more than 5 minutes old,
    and a suite can reach a test more than 5 minutes after it imported this module."""
    return datetime.now(UTC)


def test_default_schedule_spreads_retries_over_about_three_days() -> None:
    schedule = parse_schedule(DEFAULT_SCHEDULE)
    assert schedule[:3] == (5.0, 30.0, 120.0)
    assert 2.5 < sum(schedule) / 86400 < 3.0
    assert list(schedule) == sorted(schedule)


def test_schedule_units_and_bad_steps() -> None:
    assert parse_schedule("250ms, 1s,2m,1h,1d") == (0.25, 1.0, 120.0, 3600.0, 86400.0)
    with pytest.raises(ValueError, match="5x"):
        parse_schedule("5s,5x")


def test_retry_delay_has_jitter_within_bounds_and_ends_with_the_schedule() -> None:
    schedule = (10.0, 100.0)
    assert retry_delay(schedule, 1, 0.2, lambda: 0.0) == pytest.approx(8.0)
    assert retry_delay(schedule, 1, 0.2, lambda: 0.5) == pytest.approx(10.0)
    assert retry_delay(schedule, 2, 0.2, lambda: 0.999999) == pytest.approx(120.0, rel=1e-4)
    assert retry_delay(schedule, 3, 0.2, lambda: 0.5) is None
    assert retry_delay(schedule, 0, 0.2, lambda: 0.5) is None


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Outcome.DELIVERED), (204, Outcome.DELIVERED), (410, Outcome.DISABLE),
    (408, Outcome.RETRY), (429, Outcome.RETRY), (500, Outcome.RETRY), (503, Outcome.RETRY), (None, Outcome.RETRY),
    (400, Outcome.GIVE_UP), (401, Outcome.GIVE_UP), (404, Outcome.GIVE_UP), (422, Outcome.GIVE_UP),
    (301, Outcome.GIVE_UP), (302, Outcome.GIVE_UP),
])
def test_outcomes(status: int | None, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_signature_verifies_with_the_reference_package() -> None:
    secret = new_webhook_secret()
    now = _now()
    body = b'{"type":"article.published","data":{"uri":"urn:x"}}'
    sent = headers([WebhookSecret(secret=secret, created_at=now)], "msg_1-0", now, body)
    assert Webhook(secret).verify(body, sent) == {"type": "article.published", "data": {"uri": "urn:x"}}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(body, sent)


def test_signature_matches_the_reference_signer() -> None:
    secret = new_webhook_secret()
    ts = datetime.fromtimestamp(1_700_000_000, UTC)
    assert sign(secret, "msg_9", 1_700_000_000, b"{}") == Webhook(secret).sign("msg_9", ts, "{}")


def test_rotation_overlap_signs_with_both_secrets_then_only_the_new_one() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    now = _now()
    secrets = [WebhookSecret(secret=new, created_at=now),
               WebhookSecret(secret=old, created_at=now - timedelta(days=9), expires_at=now + timedelta(hours=1))]
    body = b'{"a":1}'
    during = headers(secrets, "msg_2-0", now, body)
    assert len(during["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, during)
    Webhook(new).verify(body, during)
    later = now + timedelta(hours=2)
    after = headers(secrets, "msg_2-0", later, body)
    assert len(after["webhook-signature"].split(" ")) == 1
    assert after["webhook-signature"] == sign(new, "msg_2-0", int(later.timestamp()), body)


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.1", "private"),
    ("172.16.5.4", "private"), ("100.64.0.1", "private"), ("fc00::1", "private"), ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"), ("169.254.169.254", "metadata"), ("fd00:ec2::254", "metadata"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("224.0.0.1", "multicast"), ("::ffff:127.0.0.1", "loopback"),
    ("93.184.216.34", None), ("2606:4700::1111", None),
])
def test_address_categories(address: str, kind: str | None) -> None:
    import ipaddress

    assert category(ipaddress.ip_address(address)) == kind


async def test_urls_to_private_addresses_are_refused_unless_allowed() -> None:
    with pytest.raises(WebhookUrlRefused, match="private"):
        await check_webhook_url("http://10.0.0.8/hook", frozenset())
    with pytest.raises(WebhookUrlRefused, match="metadata"):
        await check_webhook_url("http://169.254.169.254/latest/meta-data", frozenset({"link-local"}))
    with pytest.raises(WebhookUrlRefused, match="loopback"):
        await check_webhook_url("http://localhost:9/hook", frozenset())
    await check_webhook_url("http://localhost:9/hook", frozenset({"loopback"}))
    await check_webhook_url("http://10.0.0.8/hook", frozenset({"private"}))
    await check_webhook_url("https://93.184.216.34/hook", frozenset())
    for bad in ("ftp://example.com/x", "http:///nohost", "http://user:pw@93.184.216.34/", "not a url"):
        with pytest.raises(WebhookUrlRefused):
            await check_webhook_url(bad, frozenset({"loopback", "private"}))


def test_settings_from_env() -> None:
    s = WebhookSettings.from_env({
        "NEWSWIRE_WEBHOOK_RETRY_SCHEDULE": "100ms,1s", "NEWSWIRE_WEBHOOK_ALLOW": "loopback, private",
        "NEWSWIRE_WEBHOOK_CONNECT_TIMEOUT_MS": "500", "NEWSWIRE_WEBHOOK_READ_TIMEOUT_MS": "2000",
        "NEWSWIRE_WEBHOOK_MAX_RESPONSE_BYTES": "64",
    })
    assert s.retry_schedule == (0.1, 1.0)
    assert s.allow == frozenset({"loopback", "private"})
    assert (s.connect_timeout_s, s.read_timeout_s, s.max_response_bytes) == (0.5, 2.0, 64)
    assert WebhookSettings.from_env({}) == WebhookSettings()
    with pytest.raises(SettingsError, match="ALLOW"):
        WebhookSettings.from_env({"NEWSWIRE_WEBHOOK_ALLOW": "everything"})
    with pytest.raises(SettingsError, match="SCHEDULE"):
        WebhookSettings.from_env({"NEWSWIRE_WEBHOOK_RETRY_SCHEDULE": "soon"})
