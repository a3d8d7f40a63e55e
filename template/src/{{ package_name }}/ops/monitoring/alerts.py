# Kept by the template: `copier update` rewrites this file.
"""Alerts: a monitoring check that crossed a threshold is posted to a webhook as Slack-compatible JSON.

The webhook URL comes from the environment variable MONITORING_WEBHOOK_URL (a Slack incoming webhook, or
anything that accepts the same body: Mattermost, Rocket.Chat, Microsoft Teams workflows, a relay of yours).
Unset, nothing is sent and a note says so. A failed post (unreachable, refused, an HTTP error, a timeout) is
reported in the returned status and never raised: an alert that cannot be delivered must not stop the
monitoring that raised it.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

WEBHOOK_ENV = "MONITORING_WEBHOOK_URL"
TIMEOUT_SECONDS = 10.0
MAX_FEATURES = 10  # the drifted features a message lists, most drifted first


def message(result: dict[str, Any]) -> dict[str, Any]:
    """The Slack-compatible body of an alert: a `text` fallback and `blocks` for the layout."""
    model = result.get("model") or {}
    subject = f"{model.get('name', 'model')} version {model.get('version', '?')}"
    text = f"Monitoring alert for {subject}: " + "; ".join(result["reasons"])
    drifted = list((result.get("drift_summary") or {}).get("drifted_features", []))[:MAX_FEATURES]
    details = [
        f"*Window*: last {result['window']['hours']:g} h, {result['window']['rows']} rows",
        f"*Drifted features*: {', '.join(drifted) or 'none'}",
    ]
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"Monitoring alert: {subject}"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "\n".join(f"- {reason}" for reason in result["reasons"])},
            },
            {"type": "section", "fields": [{"type": "mrkdwn", "text": line} for line in details]},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"checked at {result['checked_at']}"}],
            },
        ],
    }


def post(url: str, body: dict[str, Any], timeout: float = TIMEOUT_SECONDS) -> int:
    """POST the body as JSON; returns the HTTP status (an error status raises urllib.error.HTTPError)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{WEBHOOK_ENV} must be an http(s) URL")
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # the scheme is checked above
        return int(answer.status)


def notify(
    result: dict[str, Any], url: str | None = None, timeout: float = TIMEOUT_SECONDS
) -> dict[str, Any]:
    """Send the alert of a check to the webhook (`url`, else MONITORING_WEBHOOK_URL).

    Returns `sent`, `status` (the HTTP status, when one came back) and `message`, a line for the log.
    """
    url = url or os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        return {
            "sent": False,
            "status": None,
            "message": f"note: {WEBHOOK_ENV} is not set; no alert was sent",
        }
    try:
        status = post(url, message(result), timeout)
    except urllib.error.HTTPError as refused:
        return {"sent": False, "status": refused.code, "message": f"alert not delivered: HTTP {refused.code}"}
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as failed:
        reason = getattr(failed, "reason", failed)
        return {"sent": False, "status": None, "message": f"alert not delivered: {reason}"}
    return {"sent": True, "status": status, "message": f"alert sent to the webhook (HTTP {status})"}
