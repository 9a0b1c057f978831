"""Turns the customer catalog into Prefect deployments (prefect.yaml)."""
