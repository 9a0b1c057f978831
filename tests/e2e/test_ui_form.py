"""The Prefect UI run form of a customer deployment, opened in headless Chromium, and the API behind it.

The form is what an operator fills in for a manual run, so it is checked as rendered, in both UIs the Prefect
3.9 server ships (v1 under `/`, v2 under `/v2`, v2 being the default entry point): the customer (prefilled with the
deployment's customer name: the run reads that entry from the worker's catalog), dry_run and the run's overrides
(a JSON object laid over the catalog entry for this run only), each with its description, in that order. A bad
override fails the run at its start, naming the field and the customer, before any task. A screenshot of each form
lands in `test-output/`.

No sandbox and no worker: one Prefect server with the contoso deployment is all this module needs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page, sync_playwright
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.responses import DeploymentResponse
from prefect.exceptions import PrefectHTTPStatusError

from onboarding.catalog import load_catalog
from onboarding.errors import InvalidSpecError
from tests.chaos.prefect_runs import task_states
from tools.stack import ROOT, WORK_POOL, PrefectStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("ui-form")]

CUSTOMER = "contoso"
DEPLOYMENT = f"onboard-customer/{CUSTOMER}"
CHROMIUM = Path("/usr/bin/chromium")
# Headless Chromium on a machine with a closed network: no sandbox as root, no GPU, no background calls home.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = ROOT / "test-output"
FIELDS = ["customer", "dry_run", "overrides"]  # in the order the form shows them


@dataclass(frozen=True)
class Ui:
    """Where one of the two Prefect UIs puts the run form and how its parts are found."""

    route: str
    label: str
    description: str


UIS = {
    "v1": Ui(
        route="/deployments/deployment/{id}/run",
        label=".schema-form-property__label",
        description=".schema-form-property__description",
    ),
    "v2": Ui(
        route="/v2/deployments/deployment/{id}/run",
        label="label",
        description="label + p",
    ),
}


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    """Debian's chromium, which make installs before the tests (tools/install_system_packages.sh)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make test` as root installs Debian's chromium")
    return CHROMIUM


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectStack]:
    """A Prefect server with its own home; no worker."""
    stack = PrefectStack(tmp_path_factory.mktemp("prefect-ui"))
    try:
        yield stack.start(timeout_s=300)
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def client(stack: PrefectStack) -> Iterator[SyncPrefectClient]:
    with SyncPrefectClient(stack.api_url) as client:
        yield client


@pytest.fixture(scope="module")
def deployment(stack: PrefectStack, client: SyncPrefectClient) -> DeploymentResponse:
    """The customer's deployment as `prefect deploy` makes it from prefect.yaml (the pool through the API:
    one CLI process fewer)."""
    client.create_work_pool(WorkPoolCreate(name=WORK_POOL, type="process"), overwrite=True)
    done = stack.run_cli("--no-prompt", "deploy", "--name", DEPLOYMENT, check=False)
    if done.returncode != 0:
        pytest.fail(f"prefect deploy failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return client.read_deployment_by_name(DEPLOYMENT)


@pytest.fixture(scope="module")
def browser(chromium_executable: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_executable), headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


def _full_page_screenshot(page: Page, path: Path) -> None:
    # v1 scrolls inside a container, so grow the viewport to the tallest scroll height before capturing.
    height = page.evaluate("Math.max(...Array.from(document.querySelectorAll('*'), e => e.scrollHeight))")
    page.set_viewport_size({"width": 1280, "height": min(int(height) + 40, 16000)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)


@pytest.mark.parametrize("ui_name", sorted(UIS))
def test_run_form_shows_the_customer_and_its_overrides(
    ui_name: str,
    stack: PrefectStack,
    deployment: DeploymentResponse,
    browser: Browser,
    tmp_path: Path,
) -> None:
    ui = UIS[ui_name]
    schema = deployment.parameter_openapi_schema or {}
    properties = schema["properties"]
    assert list(properties) == FIELDS
    assert deployment.parameters == {"customer": CUSTOMER, "dry_run": False}

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(120_000)  # generous: the two shared cores are often busy
    page = context.new_page()
    try:
        page.goto(stack.ui_url + ui.route.format(id=deployment.id))
        # Rendered when the last field's label is there and the deployment's values have been filled in.
        page.locator(ui.label, has_text=FIELDS[-1]).first.wait_for()
        page.wait_for_function(
            "v => Array.from(document.querySelectorAll('input, textarea'), e => e.value).includes(v)",
            arg=CUSTOMER,
        )
        shot = tmp_path / f"ui-form-{ui_name}.png"
        _full_page_screenshot(page, shot)
        OUTPUT.mkdir(exist_ok=True)
        shutil.copyfile(shot, OUTPUT / shot.name)

        shown = [
            text.strip().removesuffix(" (Optional)") for text in page.locator(ui.label).all_inner_texts()
        ]
        assert [t for t in shown if t in FIELDS] == FIELDS, f"fields missing or out of order: {shown}"
        descriptions = {" ".join(text.split()) for text in page.locator(ui.description).all_inner_texts()}
        missing = [n for n, p in properties.items() if " ".join(p["description"].split()) not in descriptions]
        assert not missing, f"descriptions not shown in full: {missing}"
    finally:
        context.close()


def test_deployment_enforces_the_parameter_schema(deployment: DeploymentResponse) -> None:
    assert deployment.enforce_parameter_schema is True
    document = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    customers = [d for d in document["deployments"] if "customer" in d.get("parameters", {})]
    assert {d["parameters"]["customer"] for d in customers} >= {spec.name for spec in load_catalog()}
    assert all(d["enforce_parameter_schema"] is True for d in customers)
    assert not [d["name"] for d in document["deployments"] if d.get("enforce_parameter_schema") is False]


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"customer": {"name": CUSTOMER}}, "customer"),
        ({"customer": CUSTOMER, "overrides": "tenant_id=not-a-guid"}, "overrides"),
        ({"customer": CUSTOMER, "dry_run": "sometimes"}, "dry_run"),
    ],
    ids=["customer-not-a-name", "overrides-not-an-object", "dry-run-not-bool"],
)
def test_bad_parameters_are_refused_by_the_api(
    parameters: dict[str, Any], named: str, client: SyncPrefectClient, deployment: DeploymentResponse
) -> None:
    with pytest.raises(PrefectHTTPStatusError) as refused:
        client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
    assert refused.value.response.status_code in (409, 422)
    assert named in refused.value.response.json()["detail"]
    runs = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
    )
    # The deployment's own schedule adds runs; none of them may carry the refused parameters.
    assert not [run for run in runs if run.parameters == parameters]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"tenant_id": "not-a-guid"}, "field customer.tenant_id"),
        ({"pod_identity": {"mode": "kubelet-magic"}}, "field customer.pod_identity.mode"),
        ({"tenant": "7c1f4f7e-3a4b-4c55-9a1e-0c2d7f1a1001"}, "field customer.tenant: Extra inputs"),
    ],
    ids=["bad-guid", "bad-enum", "unknown-field"],
)
def test_a_bad_override_fails_the_run_at_its_start(
    overrides: dict[str, Any], named: str, stack: PrefectStack, client: SyncPrefectClient
) -> None:
    """The run as the form's Run button makes it, run in this process (no worker here): it fails before any task,
    so before any cloud call, naming the field and the customer."""
    from flows.onboard_customer import onboard_customer

    with stack.settings(), pytest.raises(InvalidSpecError) as info:
        onboard_customer(CUSTOMER, overrides=overrides)
    assert f"customer {CUSTOMER!r}: " in str(info.value) and named in str(info.value)
    (run,) = [r for r in client.read_flow_runs() if r.parameters.get("overrides") == overrides]
    assert run.state and run.state.is_failed()
    assert task_states(client, run.id) == {}, "no task (so no cloud call) ran"
