"""Job: POST notifications for offline users to the push webhook, signed.

The body is JSON: `{"delivery_id", "notifications": [...]}`. Headers:
- `X-Chat-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with PUSH_WEBHOOK_SECRET>`
- `X-Chat-Delivery: <delivery_id>` (the same on every retry, for the receiver to drop repeats).
Any answer but 2xx, or no answer within WEBHOOK_TIMEOUT, fails the job:
RQ retries it after each of WEBHOOK_RETRY_INTERVALS and then keeps it in
the failed registry with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request

import orjson

from worker.runtime import open_runtime


class WebhookFailed(Exception):
    pass


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def run(payload: dict) -> dict:
    settings = open_runtime().settings.notifications
    if not settings.push_webhook_url:
        return {"skipped": "PUSH_WEBHOOK_URL is not set"}
    body = orjson.dumps(payload)
    request = urllib.request.Request(
        settings.push_webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "chat-backend-webhook/1",
            "X-Chat-Delivery": str(payload.get("delivery_id", "")),
            "X-Chat-Signature": signature(settings.push_webhook_secret, int(time.time()), body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.webhook_timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise WebhookFailed(f"the webhook answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise WebhookFailed(f"the webhook could not be reached: {exc}") from None
    if not 200 <= status < 300:
        raise WebhookFailed(f"the webhook answered HTTP {status}")
    return {"status": status, "notifications": len(payload.get("notifications", []))}
