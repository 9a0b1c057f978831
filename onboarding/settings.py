"""Where the clouds are and how patient to be: read from the environment (prefix ONBOARDING_).

The same settings point the product at Azure, a sovereign cloud or the sandbox; there is no other switch.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

UPSTREAM_CHART_REPOSITORY = "https://raw.githubusercontent.com/Azure/aad-pod-identity/master/charts"
REPOSITORY = Path(__file__).resolve().parent.parent
REPOSITORY_CATALOG = REPOSITORY / "deployments" / "customers"
MAKE_INSTALLED_HELM = REPOSITORY / ".tools" / "bin" / "helm"


def default_helm() -> str:
    """The helm that `make` installed when it is there, else ``helm`` on PATH: the same helm whether or not the
    command runs under make (which puts .tools/bin first on PATH) or from a plain shell (which does not)."""
    return str(MAKE_INSTALLED_HELM) if MAKE_INSTALLED_HELM.is_file() else "helm"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONBOARDING_", extra="ignore")

    arm_endpoint: str = Field("https://management.azure.com", description="Azure Resource Manager endpoint")
    arm_scope: str = Field("https://management.azure.com/.default", description="Token scope for ARM")
    authority_host: str = Field("https://login.microsoftonline.com", description="Entra ID authority host")
    storage_scope: str = Field("https://storage.azure.com/.default", description="Token scope for storage")
    ca_bundle: Path | None = Field(
        None, description="CA bundle for TLS to ARM, Entra ID and storage (private clouds)"
    )
    client_secret_file: Path | None = Field(
        None,
        description="File holding the publisher's client secret, used instead of AZURE_CLIENT_SECRET: a secret in "
        "the environment is copied by whatever starts processes (Prefect's process worker writes the flow run's "
        "environment to a workspace file, left on disk when the worker is killed)",
    )
    default_chart_repository: str = Field(
        UPSTREAM_CHART_REPOSITORY,
        description="Chart repository used when a customer does not name one (a mirror)",
    )
    application_definition_id: str | None = Field(
        None,
        description="Service catalog definition used when a customer spec names neither definition nor plan",
    )
    helm_executable: str = Field(
        default_factory=default_helm,
        description="helm binary (>= 3.8); default: the repository's .tools/bin/helm (installed by make), else "
        "helm on PATH",
    )
    helm_stale_lock_s: float = Field(
        300.0,
        gt=0,
        description="How long a release may stay pending-install/-upgrade/-rollback before it is taken as left "
        "by an interrupted helm and recovered (uninstall or rollback) so the install can go on",
    )
    poll_interval_s: float = Field(2.0, gt=0, description="Polling interval for long-running operations")
    sdk_retry_total: int = Field(
        3,
        ge=0,
        description="Retries of one HTTP request inside the Azure SDK (connection errors, 429/5xx); a step's own "
        "retries are onboarding/retry.py's",
    )
    sdk_call_timeout_s: float = Field(
        120.0,
        gt=0,
        description="Longest one Azure SDK call may take, its own retries included (also its read timeout)",
    )
    retry_base_delay_s: float = Field(2.0, ge=0, description="First delay before retrying a step")
    retry_max_delay_s: float = Field(60.0, ge=0, description="Largest single delay between a step's attempts")
    retry_budget_s: float = Field(
        3600.0,
        gt=0,
        description="Longest one step may take in total: its attempts, the waits inside them (deployment, role "
        "propagation, probe) and the delays between them; no attempt or wait goes past it",
    )
    step_retries: int = Field(8, ge=0, description="Most retries of one step after its first attempt")
    retry_jitter_factor: float = Field(
        0.5,
        ge=0,
        description="Spread of each retry delay, as a fraction of it, so that many customers throttled at once "
        "do not retry in step",
    )
    propagation_budget_s: float = Field(
        2400.0, gt=0, description="How long a 403 may be blamed on role propagation before it is permanent"
    )
    deployment_timeout_s: float = Field(
        3600.0, gt=0, description="Longest wait for a managed application deployment"
    )
    probe_timeout_s: float = Field(300.0, gt=0, description="Longest wait for the storage probe pod")
    probe_image: str = Field("python:3.11-slim", description="Image of the storage probe pod (stdlib Python)")
    catalog_dir: Path = Field(REPOSITORY_CATALOG, description="Folder of customer YAML files (the catalog)")
    fleet_parallelism: int = Field(8, ge=1, description="Customers reconciled at once by the fleet flow")
    watch_interval_s: float = Field(
        900.0,
        ge=10,
        description="Seconds between runs of the node pool watch (the safety net: Event Grid's writes, through "
        "the receiver, are the fast path; the watch repairs drift that no event announced). Read by "
        "`python -m deployments.build` for the watch deployment's schedule",
    )
    intake_auto: bool = Field(
        False,
        description="When a purchase notification names an application not in the catalog, also write the "
        "proposed entry into the catalog folder and start its onboarding (default: only propose it)",
    )
    subscription_concurrency: int = Field(
        2, ge=1, description="Onboardings at once per subscription (a Prefect global concurrency limit)"
    )
    migration_wave_size: int = Field(
        5, ge=1, description="Customers per wave of the migrate-fleet flow after its canary set"
    )
    migration_max_failure_rate: float = Field(
        0.2,
        ge=0,
        le=1,
        description="migrate-fleet starts no further wave once a wave's failed share passes this (the canary "
        "set tolerates no failure)",
    )
    receiver_public_url: str | None = Field(
        None,
        description="The receiver's public https URL (the receiver's own ONBOARDING_RECEIVER_PUBLIC_URL): each "
        "customer's Event Grid subscriptions deliver to <url>/eventgrid; unset: no subscription is made",
    )
    receiver_eventgrid_key: SecretStr | None = Field(
        None,
        description="The secret static delivery attribute X-Ama-Delivery-Key of every Event Grid subscription "
        "(the receiver's own ONBOARDING_RECEIVER_EVENTGRID_KEY)",
    )
    receiver_notification_secret: SecretStr | None = Field(
        None,
        description="The sig query secret of the notification endpoint `publish` puts on the application "
        "definition (the receiver's own ONBOARDING_RECEIVER_NOTIFICATION_SECRET)",
    )
    publisher_principal_id: str | None = Field(
        None,
        description="Object id of the publisher's principal (or group) that `publish` authorizes on every "
        "managed resource group of the definition (required to publish)",
    )
    publisher_role_definition_id: str = Field(
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        description="Role (definition GUID) of that authorization; default Owner",
    )
    definition_version: str | None = Field(
        None,
        description="Version `publish` gives the application definition (its `version` tag); default the "
        "package's mainTemplate contentVersion",
    )
    definition_lock_level: Literal["None", "CanNotDelete", "ReadOnly"] = Field(
        "ReadOnly", description="Lock the definition puts on every managed resource group"
    )
    migration_remove_scale_set_identity: bool = Field(
        False,
        description="A migration to workload identity also removes the application's identity from the node pool "
        "scale sets once pod identity is gone (every other identity stays); off: it stays attached",
    )
    migration_restart_workloads: bool = Field(
        False,
        description="A migration to workload identity rollout-restarts the Deployments whose running pods still "
        "take their token from pod identity (as `kubectl rollout restart` does) and waits for their new pods; "
        "off: it refuses to remove pod identity and names those pods",
    )
    definition_location: str | None = Field(
        None,
        description="Region of a definition `publish` creates; default its resource group's (an existing "
        "definition keeps its own)",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
