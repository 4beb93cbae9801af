"""Signed webhooks (Standard Webhooks): per-partner outboxes, ordered delivery, retries, dead letters, replay."""

from services.publish.webhooks.service import WebhookService
from services.publish.webhooks.settings import WebhookSettings
from services.publish.webhooks.ssrf import WebhookUrlRefused, check_webhook_url

__all__ = ["WebhookService", "WebhookSettings", "WebhookUrlRefused", "check_webhook_url"]
