"""Tasks of intake on purchase: read a managed application as the publisher (under the retry policy)."""

from __future__ import annotations

from functools import lru_cache

from azure.core.credentials import TokenCredential
from prefect import task
from prefect.cache_policies import NO_CACHE

from onboarding.azure.credentials import publisher_credential
from onboarding.intake import STEP, Application, read_application
from onboarding.settings import get_settings

from .policy import under_policy


@lru_cache(maxsize=1)
def _publisher() -> TokenCredential:
    """One publisher credential per worker process (its token cache shared by every intake run)."""
    return publisher_credential(get_settings())


@task(name="read-application", task_run_name="read-{app_id}", cache_policy=NO_CACHE)
def read_application_task(app_id: str) -> Application:
    return under_policy(
        lambda: read_application(app_id, get_settings(), _publisher()), step=STEP, customer="(intake)"
    )
