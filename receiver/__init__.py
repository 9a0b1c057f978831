"""The receiver: a small ASGI service that takes Azure's push deliveries (managed application notifications and
Event Grid events), authenticates them, spools them durably and forwards them to Prefect as events."""
