"""Who may deliver: Azure's notification service by the endpoint's ``sig`` query secret, Event Grid by the secret
static delivery attribute ``X-Ama-Delivery-Key``. Both compared in constant time; an unset secret admits nobody."""

from __future__ import annotations

import hmac

from pydantic import SecretStr
from starlette.requests import Request

DELIVERY_KEY_HEADER = "X-Ama-Delivery-Key"
CUSTOMER_HEADER = "X-Ama-Customer"


def _matches(given: str | None, secret: SecretStr | None) -> bool:
    if given is None or secret is None or not secret.get_secret_value():
        return False
    return hmac.compare_digest(given.encode(), secret.get_secret_value().encode())


def notification_authorized(request: Request, secret: SecretStr | None) -> bool:
    return _matches(request.query_params.get("sig"), secret)


def eventgrid_authorized(request: Request, key: SecretStr | None) -> bool:
    return _matches(request.headers.get(DELIVERY_KEY_HEADER), key)
