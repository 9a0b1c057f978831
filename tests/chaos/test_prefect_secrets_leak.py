"""No token, client secret or kubeconfig credential in anything an onboarding through Prefect produces, with the
worker and its flow runs logging at DEBUG (Prefect and every library, the Azure SDK and MSAL loggers also shipped
to the Prefect API): flow and task run logs, artifacts, events, run states, the worker's output, this test's
output, and every file under the Prefect home (the server's database included)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from onboarding.kube.kubeconfig import SECRET_USER_FIELDS
from onboarding.models import CustomerSpec
from sandbox.client import SandboxProcess
from tools.cloud_actions import aks_client
from tools.stack import PrefectStack

from .fleet import fleet_specs, register
from .prefect_runs import create_run, prefect_client, wait_for_state

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.xdist_group("chaos")]

JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.")
DEBUG_ENV = {
    "PREFECT_LOGGING_LEVEL": "DEBUG",
    "PREFECT_LOGGING_ROOT_LEVEL": "DEBUG",  # every library logger (azure, msal, urllib3, kubernetes) at DEBUG
    "PREFECT_LOGGING_EXTRA_LOGGERS": "azure,msal,kubernetes",  # ... and shipped to the Prefect API too
}


class Scanner:
    """Counts what was scanned and where a secret showed up (never printing the secret itself)."""

    def __init__(self, secrets: set[str]) -> None:
        self.secrets = {s for s in secrets if len(s) >= 8}
        self.bytes = 0
        self.records = 0
        self.hits: list[str] = []

    def scan(self, where: str, text: str) -> None:
        self.bytes += len(text.encode())
        self.records += 1
        for match in JWT.finditer(text):
            self.hits.append(
                f"{where}: JWT at {match.start()}: {text[max(0, match.start() - 60) : match.start()]!r}"
            )
        for secret in self.secrets:
            at = text.find(secret)
            if at >= 0:
                self.hits.append(f"{where}: known secret at {at}: {text[max(0, at - 60) : at]!r}")


def _kubeconfig_credentials(box: SandboxProcess, specs: list[CustomerSpec]) -> set[str]:
    """The user and admin kubeconfig credentials of the customers' clusters, fetched as the publisher."""
    found = set()
    for spec in specs:
        aks = aks_client(box, spec)
        app = spec.managed_application
        rg, name = app.managed_resource_group_name, app.parameters.aks_name
        for result in (
            aks.managed_clusters.list_cluster_user_credentials(rg, name),
            aks.managed_clusters.list_cluster_admin_credentials(rg, name),
        ):
            for users in (yaml.safe_load(k.value).get("users") or [] for k in result.kubeconfigs or []):
                found |= {str(u["user"][f]) for u in users for f in SECRET_USER_FIELDS if u["user"].get(f)}
    return found


def _pages(stack: PrefectStack, since: float) -> Iterator[dict[str, Any]]:
    """Every event since ``since`` through the events API (``/events/filter`` then its next pages)."""
    occurred = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since - 5))
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:
        page = http.post(
            "/events/filter", json={"filter": {"occurred": {"since": occurred}}, "limit": 50}
        ).json()
        while True:
            yield from page.get("events") or []
            if not page.get("next_page"):
                return
            page = http.get(page["next_page"]).json()


def _scan_prefect(scanner: Scanner, stack: PrefectStack, run_ids: list[Any], since: float) -> None:
    with prefect_client(stack) as client:
        offset = 0
        while logs := client.read_logs(limit=200, offset=offset):
            for log in logs:
                scanner.scan(f"log {log.name}", log.message)
            offset += len(logs)
        for artifact in client.read_artifacts():
            scanner.scan(f"artifact {artifact.key}", json.dumps(artifact.model_dump(mode="json")))
        for run_id in run_ids:
            for state in client.read_flow_run_states(run_id):
                scanner.scan("flow run state", json.dumps(state.model_dump(mode="json")))
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
            for task_run in runs:
                scanner.scan(f"task run {task_run.name}", json.dumps(task_run.model_dump(mode="json")))
    for event in _pages(stack, since):
        scanner.scan(f"event {event.get('event')}", json.dumps(event))


def test_onboarding_at_debug_leaks_no_secret(
    chaos_box: SandboxProcess, chaos_stack: PrefectStack, capfd: pytest.CaptureFixture[str]
) -> None:
    specs = fleet_specs(90, 3)  # one of each shape: aad-pod-identity managed and standard, workload identity
    register(chaos_box, specs)
    started = time.time()
    saved = dict(chaos_stack.extra_env)
    chaos_stack.extra_env.update(DEBUG_ENV)
    worker = chaos_stack.start_worker("debug-worker")
    chaos_stack.extra_env.clear()
    chaos_stack.extra_env.update(saved)
    try:
        with prefect_client(chaos_stack) as client:
            run_ids = [create_run(client, spec) for spec in specs]
            for run_id in run_ids:
                wait_for_state(client, run_id, {"COMPLETED"}, timeout_s=300)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    secrets = {chaos_box.env["AZURE_CLIENT_SECRET"], *_kubeconfig_credentials(chaos_box, specs)}
    assert len(secrets) >= 1 + 2 * len(specs), "the client secret and each cluster's user and admin tokens"
    probe = Scanner(secrets)
    probe.scan("positive control", f"{chaos_box.env['AZURE_CLIENT_SECRET']} eyJhbGciOi.eyJzdWIi.sig")
    assert len(probe.hits) == 2, "the scanner finds what it looks for"

    scanner = Scanner(secrets)
    _scan_prefect(scanner, chaos_stack, run_ids, started)
    for path in sorted(chaos_stack.home.rglob("*")):
        if path.is_file():
            scanner.scan(
                f"file {path.relative_to(chaos_stack.home)}", path.read_bytes().decode("utf-8", "replace")
            )
    out, err = capfd.readouterr()
    scanner.scan("test output", out + err)
    leftovers = sorted(p.name for p in (chaos_stack.home / "tmp").rglob("kubeconfig-*"))
    worker_log = (chaos_stack.home / "debug-worker.log").read_text(errors="replace")
    print(
        f"\nfigure leak_scan_bytes {scanner.bytes} in {scanner.records} records/files "
        f"(worker log {len(worker_log)} bytes at DEBUG), secrets looked for {len(scanner.secrets)} + JWTs, "
        f"hits {len(scanner.hits)}"
    )
    assert " DEBUG " in worker_log, "the worker and its flow runs logged at DEBUG"
    assert not scanner.hits, "\n".join(scanner.hits[:20])
    assert not leftovers, f"kubeconfig files left on disk: {leftovers}"
