"""Scale-out: the fleet reconcile on Prefect with PostgreSQL + Redis (API and services as separate processes) and two
process workers. Each customer is onboarded exactly once per fleet run, both workers take runs, and the sandbox
sees no duplicate write: every scale set PATCH and role assignment PUT succeeds at most once, and a second fleet
run writes nothing."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess
from tools.customers import register_customer
from tools.fleet_catalog import write_fleet_catalog
from tools.fleet_run import FleetOutcome, pause_schedules, run_fleet, state_of
from tools.scale_demo import WATCHER
from tools.scale_stack import PackagesMissingError, ScaleStack, check_packages

from .conftest import TEST_SETTINGS

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]

CUSTOMERS = 6
WORKERS = 2
RUNS_PER_WORKER = 3
WRITES = {"PUT", "PATCH", "DELETE"}
SCALE_SET_PATCH = re.compile(r"/providers/microsoft\.compute/virtualmachinescalesets/[^/]+$")
ROLE_ASSIGNMENT_PUT = re.compile(r"/providers/microsoft\.authorization/roleassignments/[^/]+$")


@dataclass
class Fleet:
    stack: ScaleStack
    catalog: Path
    specs: list[CustomerSpec]


@pytest.fixture(scope="module")
def fleet(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    try:
        check_packages()
    except PackagesMissingError as exc:
        pytest.skip(str(exc))
    catalog = tmp_path_factory.mktemp("fleet-catalog")
    specs = write_fleet_catalog(catalog, CUSTOMERS, tenants=3)
    for spec in specs:
        register_customer(sandbox, spec)
    env = {
        **sandbox.env,
        **TEST_SETTINGS,
        "ONBOARDING_CATALOG_DIR": str(catalog),
        "ONBOARDING_FLEET_PARALLELISM": str(WORKERS * RUNS_PER_WORKER - 1),
    }
    # No event trigger is used here: do not wait for the triggers and actions services.
    stack = ScaleStack(tmp_path_factory.mktemp("scale"), extra_env=env).start(await_event_services=False)
    try:
        stack.prefect.deploy(concurrency=WORKERS * RUNS_PER_WORKER)
        pause_schedules(stack.prefect.api_url, [WATCHER])
        for n in range(1, WORKERS + 1):
            stack.prefect.start_worker(f"scale-{n}", limit=RUNS_PER_WORKER)
        yield Fleet(stack, catalog, specs)
    finally:
        stack.stop()


def run_and_log(sandbox: SandboxProcess, fleet: Fleet) -> tuple[FleetOutcome, list[tuple[str, str, int]]]:
    """One fleet run and the ARM writes (method, path, status) made meanwhile in the fleet's subscriptions."""
    since = len(sandbox.requests_log())
    outcome = run_fleet(fleet.stack.prefect.api_url, timeout_s=600)
    subscriptions = tuple(f"/subscriptions/{s.subscription_id}/".lower() for s in fleet.specs)
    writes = [
        (str(e["method"]), str(e["path"]).lower(), int(e["status"]))
        for e in sandbox.requests_log(since)
        if e["method"] in WRITES and str(e["path"]).lower().startswith(subscriptions)
    ]
    return outcome, writes


@pytest.fixture(scope="module")
def first_run(sandbox: SandboxProcess, fleet: Fleet) -> tuple[FleetOutcome, list[tuple[str, str, int]]]:
    return run_and_log(sandbox, fleet)


def assert_each_customer_once(outcome: FleetOutcome, specs: list[CustomerSpec]) -> None:
    assert state_of(outcome.fleet) == "COMPLETED", outcome.fleet.state and outcome.fleet.state.message
    assert outcome.runs_by_customer() == Counter({s.name: 1 for s in specs})
    assert not outcome.failures()


def test_fleet_onboards_each_customer_once_across_two_workers(
    fleet: Fleet, first_run: tuple[FleetOutcome, list[tuple[str, str, int]]]
) -> None:
    outcome, writes = first_run
    assert_each_customer_once(outcome, fleet.specs)
    workers = outcome.runs_per_worker()
    assert set(workers) == {f"scale-{n}" for n in range(1, WORKERS + 1)}, workers
    assert sum(workers.values()) == CUSTOMERS + 1

    succeeded = Counter((m, p) for m, p, status in writes if 200 <= status < 300)
    patches = {p: n for (m, p), n in succeeded.items() if m == "PATCH" and SCALE_SET_PATCH.search(p)}
    role_puts = {p: n for (m, p), n in succeeded.items() if m == "PUT" and ROLE_ASSIGNMENT_PUT.search(p)}
    assert len(patches) >= CUSTOMERS, "every customer's scale sets get their identities"
    assert {p: n for p, n in patches.items() if n > 1} == {}
    assert {p: n for p, n in role_puts.items() if n > 1} == {}


def test_second_fleet_run_writes_nothing(
    sandbox: SandboxProcess, fleet: Fleet, first_run: tuple[FleetOutcome, list[tuple[str, str, int]]]
) -> None:
    outcome, writes = run_and_log(sandbox, fleet)
    assert_each_customer_once(outcome, fleet.specs)
    assert writes == []
