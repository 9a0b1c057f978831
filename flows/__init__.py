"""Prefect flows: thin orchestration over tasks/; the logic lives in onboarding/."""
