"""Which catalog customer a managed application belongs to (the catalog is read on each lookup: it is small, and
a customer added while the receiver runs is known at once)."""

from __future__ import annotations

import logging

from onboarding.azure.managed_app import application_id
from onboarding.catalog import load_catalog
from onboarding.errors import InvalidSpecError

logger = logging.getLogger(__name__)


def customer_of_application(app_id: str) -> str:
    """The name of the catalog customer whose spec names this application, else "" (not onboarded yet)."""
    try:
        specs = load_catalog()
    except InvalidSpecError as exc:
        logger.warning("the catalog cannot be read (%s): the notification names no customer", exc)
        return ""
    wanted = app_id.rstrip("/").lower()
    return next((spec.name for spec in specs if application_id(spec).lower() == wanted), "")
