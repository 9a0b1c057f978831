"""Prefect flows: thin orchestration over tasks/; the logic lives in onboarding/."""

from onboarding.logsafe import install_redaction

install_redaction()
