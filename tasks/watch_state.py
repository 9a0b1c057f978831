"""The watcher's memory per customer, kept in a Prefect variable (`ama_watch_<customer>`)."""

from __future__ import annotations

from prefect.variables import Variable

from onboarding.cluster import ClusterInfo
from onboarding.watch import WatchState, onboarded_state


def _name(customer: str) -> str:
    return f"ama_watch_{customer.replace('-', '_')}"


def load_watch_state(customer: str) -> WatchState | None:
    raw = Variable.get(_name(customer), default=None)
    return WatchState.model_validate(raw) if raw else None


def save_watch_state(customer: str, state: WatchState) -> None:
    Variable.set(_name(customer), state.model_dump(mode="json"), overwrite=True)


def remember_onboarded(customer: str, cluster: ClusterInfo) -> None:
    """After a verified onboarding: its scale sets count as seen complete (see ``onboarded_state``)."""
    save_watch_state(customer, onboarded_state(cluster))
