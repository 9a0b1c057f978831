"""The watcher's memory per customer, kept in a Prefect variable (`ama_watch_<customer>`)."""

from __future__ import annotations

from prefect.variables import Variable

from onboarding.cluster import ClusterInfo
from onboarding.watch import WatchState, vmss_name


def _name(customer: str) -> str:
    return f"ama_watch_{customer.replace('-', '_')}"


def load_watch_state(customer: str) -> WatchState | None:
    raw = Variable.get(_name(customer), default=None)
    return WatchState.model_validate(raw) if raw else None


def save_watch_state(customer: str, state: WatchState) -> None:
    Variable.set(_name(customer), state.model_dump(mode="json"), overwrite=True)


def remember_onboarded(customer: str, cluster: ClusterInfo) -> None:
    """After a verified onboarding every current scale set is complete: later gaps on them are drift."""
    seen = sorted(vmss_name(v) for v in cluster.scale_sets)
    save_watch_state(customer, WatchState(cluster=cluster.model_copy(update={"scale_sets": []}), seen=seen))
