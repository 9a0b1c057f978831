"""Prefect tasks: thin wrappers over onboarding/ step functions, each with its retry policy."""
