"""publish: package templates/ and create or update the service catalog application definition (manual)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from onboarding.azure.credentials import publisher_credential
from onboarding.publish import publish, summary
from onboarding.settings import get_settings


@flow(name="publish", flow_run_name="publish", log_prints=True)
def publish_package(dry_run: bool = False) -> dict[str, Any]:
    """Package templates/ on the worker (its dist/app.zip) and create or update the application definition
    ONBOARDING_APPLICATION_DEFINITION_ID with the version, the publisher's authorization and the notification
    endpoint from the worker's settings; only what differs is written.

    Args:
        dry_run: Say what would be written; write nothing.
    """
    settings = get_settings()
    result = publish(settings, publisher_credential(settings), dry_run=dry_run)
    text = summary(result)
    create_markdown_artifact(key="publish", markdown="\n".join(f"- {line}" for line in text.splitlines()))
    get_run_logger().info("%s", text)
    return asdict(result)
