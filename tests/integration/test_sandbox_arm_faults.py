"""Fault rules, throttling (honoured by azure-core's RetryPolicy) and the request log."""

from __future__ import annotations

import time
import urllib.error
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource.resources import ResourceManagementClient

from sandbox.seed import PUBLISHER_SUBSCRIPTION_ID

from .armkit import client_kwargs, credential, make

pytestmark = pytest.mark.integration


@pytest.fixture
def resources(sandbox: Any) -> Any:
    client = make(ResourceManagementClient, sandbox, credential(sandbox), PUBLISHER_SUBSCRIPTION_ID)
    client.resource_groups.get("publisher-rg")  # token cached, connection open
    yield client
    sandbox.clear_faults()
    sandbox.reset_timing()


def _next_seq(sandbox: Any) -> int:
    return int(sandbox.admin("GET", "/requests?since=1000000000")["next"])


def _statuses(sandbox: Any, since: int, needle: str) -> list[int]:
    return [r["status"] for r in sandbox.requests_log(since) if needle in r["path"].lower()]


def test_transient_faults_are_retried_by_the_sdk(sandbox: Any, resources: Any) -> None:
    since = _next_seq(sandbox)
    sandbox.set_faults(
        [
            {
                "method": "GET",
                "path": "/resourcegroups/publisher-rg$",
                "status": 503,
                "code": "ServiceUnavailable",
                "count": 2,
                "retry_after": 0,
            }
        ]
    )
    assert resources.resource_groups.get("publisher-rg").name == "publisher-rg"
    assert _statuses(sandbox, since, "/publisher-rg") == [503, 503, 200]


def test_fault_codes_reach_the_caller(sandbox: Any, resources: Any) -> None:
    sandbox.set_faults(
        [
            {
                "method": "PUT",
                "path": "/resourceGroups/faulty",
                "status": 409,
                "code": "AnotherOperationInProgress",
                "message": "try later",
            }
        ]
    )
    with pytest.raises(HttpResponseError) as err:
        resources.resource_groups.create_or_update("faulty", {"location": "westus"})
    assert err.value.status_code == 409 and err.value.error.code == "AnotherOperationInProgress"
    assert resources.resource_groups.create_or_update("faulty", {"location": "westus"}).name == "faulty"


def test_probabilistic_faults_are_seeded(sandbox: Any, resources: Any) -> None:
    sandbox.set_faults(
        [
            {
                "path": "/resourcegroups/publisher-rg$",
                "status": 400,
                "code": "Flaky",
                "probability": 0.5,
                "seed": 7,
            }
        ]
    )
    failures = 0
    for _ in range(20):
        try:
            resources.resource_groups.get("publisher-rg")
        except HttpResponseError as exc:
            assert exc.error.code == "Flaky"
            failures += 1
    assert 0 < failures < 20


def test_throttling_answers_429_and_the_sdk_waits(sandbox: Any, resources: Any) -> None:
    sandbox.set_timing(reads_burst=2, reads_per_s=1.0)
    since = _next_seq(sandbox)
    started = time.monotonic()
    for _ in range(4):
        resources.resource_groups.get("publisher-rg")
    elapsed = time.monotonic() - started
    throttled = [r for r in sandbox.requests_log(since) if r["status"] == 429]
    assert throttled and elapsed >= 0.9
    assert all(r["kind"] == "read" for r in throttled)


def test_write_throttling_answers_429_and_the_sdk_waits(sandbox: Any, resources: Any) -> None:
    customer = sandbox.add_customer(name="throttled")  # its own buckets: nothing else writes there
    sub, rg = customer["subscription_id"], customer["application_resource_group"]
    cred = credential(sandbox)
    msi = ManagedServiceIdentityClient(cred, sub, **client_kwargs(sandbox))
    no_retry = ManagedServiceIdentityClient(cred, sub, retry_total=0, **client_kwargs(sandbox))
    assert list(msi.user_assigned_identities.list_by_resource_group(rg)) == []  # token cached
    sandbox.set_timing(writes_burst=1, writes_per_s=0.5)  # the fixture's teardown restores the timing
    since = _next_seq(sandbox)
    msi.user_assigned_identities.create_or_update(rg, "first", {"location": "westus"})
    with pytest.raises(HttpResponseError) as err:
        no_retry.user_assigned_identities.create_or_update(rg, "second", {"location": "westus"})
    assert err.value.status_code == 429 and err.value.error.code == "SubscriptionRequestsThrottled"
    assert int(err.value.response.headers["Retry-After"]) >= 1
    second = msi.user_assigned_identities.create_or_update(rg, "second", {"location": "westus"})
    assert second.name == "second"
    writes = [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in sandbox.requests_log(since)]
    # The SDK's RetryPolicy slept for the Retry-After it got: an immediate retry would have met 429 again.
    assert writes == [("first", 201), ("second", 429), ("second", 429), ("second", 201)]
    names = {i.name for i in msi.user_assigned_identities.list_by_resource_group(rg)}
    assert names == {"first", "second"}  # reads have a bucket of their own


def test_request_log_entries(sandbox: Any, resources: Any) -> None:
    since = _next_seq(sandbox)
    resources.resource_groups.create_or_update("logged", {"location": "westus"})
    resources.resource_groups.get("logged")
    entries = [r for r in sandbox.requests_log(since) if r["path"].lower().endswith("/logged")]
    assert [(r["method"], r["kind"], r["status"]) for r in entries] == [
        ("PUT", "write", 201),
        ("GET", "read", 200),
    ]
    publisher = next(
        p for p in sandbox.state()["principals"] if p["client_id"] == sandbox.env["AZURE_CLIENT_ID"]
    )
    assert entries[0]["principal"] == publisher["object_id"]
    assert entries[0]["query"]["api-version"]


def test_an_operation_rule_answers_no_request(sandbox: Any, resources: Any) -> None:
    """A rule naming an ``operation`` fails that LRO when it completes (test_sandbox_aks_update.py); requests whose
    path matches it are served."""
    [rule] = sandbox.set_faults(
        [{"operation": "managedcluster.update", "path": "/resourcegroups/publisher-rg$"}]
    )["rules"]
    assert rule["operation"] == "managedcluster.update" and rule["count"] == 1
    assert resources.resource_groups.get("publisher-rg").name == "publisher-rg"
    assert [r["fired"] for r in sandbox.admin("GET", "/faults")["rules"]] == [0]
    with pytest.raises(urllib.error.HTTPError) as err:
        sandbox.set_faults([{"path": "/anything"}])  # neither status nor operation
    assert err.value.code == 400
