"""Which catalog customer a managed application belongs to (the catalog is read on each lookup: it is small, and
a customer added while the receiver runs is known at once)."""

from __future__ import annotations

import logging

from onboarding.errors import InvalidSpecError
from onboarding.intake import catalog_customer
from onboarding.settings import get_settings

logger = logging.getLogger(__name__)


def customer_of_application(app_id: str) -> str:
    """The name of the catalog customer whose spec names this application, else "" (not onboarded yet)."""
    try:
        spec = catalog_customer(app_id, get_settings().catalog_dir)
    except InvalidSpecError as exc:
        logger.warning("the catalog cannot be read (%s): the notification names no customer", exc)
        return ""
    return spec.name if spec else ""
