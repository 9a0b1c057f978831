"""The ``ama.customer.onboarded`` event (emitted by the onboarding flow once storage access is verified) read back:
when a customer was last verified. Over Prefect's REST API, so ``status`` needs no Prefect import and no server."""

from __future__ import annotations

import json
import os
import urllib.request

ONBOARDED_EVENT = "ama.customer.onboarded"


def last_verification(customer: str, api_url: str | None = None) -> str:
    """When the latest ``ama.customer.onboarded`` event of the customer occurred, or why it is unknown."""
    api_url = api_url or os.environ.get("PREFECT_API_URL")
    if not api_url:
        return "unknown (PREFECT_API_URL is not set)"
    body = {
        "filter": {
            "event": {"name": [ONBOARDED_EVENT]},
            "resource": {"id": [f"ama.customer.{customer}"]},
            "order": "DESC",
        },
        "limit": 1,
    }
    headers = {"Content-Type": "application/json"}
    if os.environ.get("PREFECT_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['PREFECT_API_KEY']}"
    request = urllib.request.Request(
        f"{api_url.rstrip('/')}/events/filter", data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            events = json.loads(response.read() or b"{}").get("events") or []
    except (OSError, ValueError) as exc:
        return f"unknown (Prefect API: {type(exc).__name__})"
    return str(events[0]["occurred"]) if events else "never (no onboarded event)"
