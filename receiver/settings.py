"""The receiver's settings, read from the environment (prefix ONBOARDING_RECEIVER_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReceiverSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONBOARDING_RECEIVER_", extra="ignore")

    public_url: str | None = Field(
        None,
        description="The https URL Azure reaches the receiver at (the reverse proxy's, not the bind address): "
        "notification endpoints are <public_url>/notifications?sig=<secret>, Event Grid endpoints "
        "<public_url>/eventgrid",
    )
    notification_secret: SecretStr | None = Field(
        None,
        description="The sig query secret of the notification endpoint; unset: every notification gets 401",
    )
    eventgrid_key: SecretStr | None = Field(
        None,
        description="The value of the secret static delivery attribute X-Ama-Delivery-Key on every Event Grid "
        "subscription; unset: every Event Grid delivery gets 401",
    )
    max_body_bytes: int = Field(
        1_100_000,
        gt=0,
        description="Largest request body accepted (413 above it); Event Grid batches are at most 1 MB",
    )
    spool_path: Path = Field(
        Path(".receiver") / "spool.db",
        description="SQLite file of every delivery seen and the Prefect events not yet confirmed by the API "
        "(relative paths are from the working directory); keep it on a persistent volume",
    )
    forward_batch: int = Field(100, ge=1, description="Most spooled events sent to Prefect in one request")
    forward_retry_base_s: float = Field(0.5, gt=0, description="First wait after the Prefect API failed")
    forward_retry_max_s: float = Field(
        30.0, gt=0, description="Longest wait between attempts to reach Prefect"
    )


@lru_cache(maxsize=1)
def get_receiver_settings() -> ReceiverSettings:
    return ReceiverSettings()
