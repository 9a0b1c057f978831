"""Push-path domain functions against the sandbox: an agent pool's scale set found by its pool tag, and a bought
application read as the publisher and turned into the catalog entry that adopts it. Real SDK clients, no mocks."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from onboarding.azure.credentials import publisher_credential
from onboarding.azure.managed_app import application_id
from onboarding.context import CustomerContext
from onboarding.errors import PermanentError
from onboarding.intake import propose_spec, read_application, spec_yaml
from onboarding.models import load_customer_spec
from onboarding.settings import Settings
from onboarding.steps.attach import pool_scale_set
from onboarding.steps.discover import discover_cluster
from sandbox.client import SandboxProcess
from tests.integration.adopted import adopted_spec
from tools.cloud_actions import add_agent_pool
from tools.customers import register_customer

pytestmark = pytest.mark.integration


def _settings() -> Settings:
    values: dict[str, Any] = {"poll_interval_s": 0.05, "retry_max_delay_s": 0.5, "propagation_budget_s": 30}
    return Settings(**values)


def test_an_agent_pool_resolves_to_the_scale_set_tagged_with_its_name(sandbox: SandboxProcess) -> None:
    spec = adopted_spec("poolres")
    register_customer(sandbox, spec)
    ctx = CustomerContext(spec, _settings())
    cluster = discover_cluster(ctx)
    add_agent_pool(sandbox, spec, "spot")

    found = pool_scale_set(ctx, cluster, f"{cluster.cluster_id}/agentPools/spot")
    assert found.lower().startswith(cluster.node_resource_group_id.lower() + "/")
    assert found.rsplit("/", 1)[-1].startswith("aks-spot-")
    assert found not in cluster.scale_sets  # discovery ran before the pool existed
    system = pool_scale_set(ctx, cluster, f"{cluster.cluster_id.upper()}/agentPools/nodepool1")
    assert system in cluster.scale_sets

    foreign = cluster.cluster_id.replace("poolresaks", "otheraks") + "/agentPools/spot"
    with pytest.raises(PermanentError, match="not an agent pool of cluster poolresaks"):
        pool_scale_set(ctx, cluster, foreign)


def test_a_bought_application_becomes_the_catalog_entry_that_adopts_it(sandbox: SandboxProcess) -> None:
    bought = adopted_spec("intakeone", node_role="Owner", location="westus2")
    register_customer(sandbox, bought)
    settings = _settings()

    app = read_application(application_id(bought), settings, publisher_credential(settings))
    assert app.provisioning_state == "Succeeded"
    assert app.tenant_id == bought.tenant_id
    proposal = propose_spec(app, taken={"intakeone-ama"})

    assert proposal.name == "intakeone-ama-2"
    same = {"name": proposal.name, "display_name": None}
    assert proposal == bought.model_copy(update=same)
    # What the artifact shows is what the catalog loads.
    assert load_customer_spec(yaml.safe_load(spec_yaml(proposal, app))) == proposal


def test_reading_an_application_that_is_not_there_is_refused(sandbox: SandboxProcess) -> None:
    spec = adopted_spec("intakegone")
    register_customer(sandbox, spec)
    missing = application_id(spec).replace("intakegone-ama", "never-bought")
    settings = _settings()
    with pytest.raises(PermanentError, match="does not exist"):
        read_application(missing, settings, publisher_credential(settings))
