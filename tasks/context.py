"""One CustomerContext (credentials, SDK clients) per customer per worker process, shared by its tasks."""

from __future__ import annotations

import threading

from onboarding.context import CustomerContext
from onboarding.models import CustomerSpec
from onboarding.settings import get_settings

_lock = threading.Lock()
_contexts: dict[str, CustomerContext] = {}


def context_for(spec: CustomerSpec) -> CustomerContext:
    cache_key = spec.model_dump_json()
    with _lock:
        ctx = _contexts.get(cache_key)
        if ctx is None:
            ctx = _contexts[cache_key] = CustomerContext(spec, get_settings())
        return ctx
