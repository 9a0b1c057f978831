"""Onboarding core: plain functions and models, no Prefect imports (tasks/ and flows/ wrap these)."""
