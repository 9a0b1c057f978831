"""The AAD stand-in through azure-identity, and ARM's bearer token checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientAssertionCredential
from azure.mgmt.resource.resources import ResourceManagementClient

from sandbox import aad
from sandbox.arm.msi import FIC_TYPE, create_identity
from sandbox.certs import make_certificates
from sandbox.profiles import FAST
from sandbox.seed import PUBLISHER_TENANT_ID, seed_world
from sandbox.state import Subscription, Tenant, World

from .armkit import credential, make

pytestmark = pytest.mark.integration
ARM = "https://management.azure.com/.default"


def test_discovery_documents(sandbox: Any) -> None:
    base, ca = sandbox.env["SANDBOX_AAD_URL"], sandbox.env["SANDBOX_CA_BUNDLE"]
    config = requests.get(
        f"{base}/{PUBLISHER_TENANT_ID}/v2.0/.well-known/openid-configuration", verify=ca, timeout=10
    ).json()
    assert config["token_endpoint"] == f"{base}/{PUBLISHER_TENANT_ID}/oauth2/v2.0/token"
    keys = requests.get(config["jwks_uri"], verify=ca, timeout=10).json()["keys"]
    assert keys[0]["kty"] == "RSA"
    missing = requests.get(f"{base}/nope/v2.0/.well-known/openid-configuration", verify=ca, timeout=10)
    assert missing.status_code == 400 and missing.json()["error_codes"] == [90002]


def test_client_secret_credential_in_publisher_and_customer_tenants(sandbox: Any) -> None:
    token = credential(sandbox).get_token(ARM).token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "https://management.azure.com/" and claims["tid"] == PUBLISHER_TENANT_ID
    customer = sandbox.add_customer(name="aadtest")
    in_customer = credential(sandbox, tenant=customer["tenant_id"])
    claims = jwt.decode(in_customer.get_token(ARM).token, options={"verify_signature": False})
    assert claims["tid"] == customer["tenant_id"]
    resources = make(ResourceManagementClient, sandbox, in_customer, customer["subscription_id"])
    assert [g.name for g in resources.resource_groups.list()] == ["aadtest-app"]


def test_token_errors(sandbox: Any) -> None:
    with pytest.raises(ClientAuthenticationError) as err:
        credential(sandbox, secret="wrong").get_token(ARM)
    assert "AADSTS7000215" in str(err.value)
    single = sandbox.add_principal(display_name="single-tenant")
    customer = sandbox.add_customer(name="aadtest2")
    with pytest.raises(ClientAuthenticationError) as err:
        credential(
            sandbox, tenant=customer["tenant_id"], client_id=single["client_id"], secret=single["secret"]
        ).get_token(ARM)
    assert "AADSTS700016" in str(err.value)


def test_arm_requires_a_management_token(sandbox: Any) -> None:
    arm, ca = sandbox.env["SANDBOX_ARM_URL"], sandbox.env["SANDBOX_CA_BUNDLE"]
    anonymous = requests.get(f"{arm}/subscriptions?api-version=2022-12-01", verify=ca, timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "AuthenticationFailed"
    storage_token = credential(sandbox).get_token("https://storage.azure.com/.default").token
    wrong = requests.get(
        f"{arm}/subscriptions?api-version=2022-12-01",
        verify=ca,
        timeout=10,
        headers={"Authorization": f"Bearer {storage_token}"},
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
    forged = requests.get(
        f"{arm}/subscriptions?api-version=2022-12-01",
        verify=ca,
        timeout=10,
        headers={"Authorization": "Bearer a.b.c"},
    )
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "InvalidAuthenticationToken"


@pytest.fixture
def local_aad(tmp_path: Path) -> Iterator[tuple[World, str, str]]:
    """An in-process token service over its own world, so the test can sign a service-account token."""
    world = World(FAST)
    certs = make_certificates(tmp_path / "tls")
    service = aad.build(world, certs).start()
    world.urls["aad"] = service.url
    seed_world(world)
    yield world, service.url, str(certs.ca_bundle)
    service.stop()
    world.scheduler.stop()


def test_workload_identity_federation(local_aad: tuple[World, str, str]) -> None:
    world, url, ca = local_aad
    tenant, sub = "00000000-0000-4000-8000-00000000c001", "00000000-0000-4000-8000-00000000d001"
    world.tenants[tenant] = Tenant(tenant, "wi")
    world.subscriptions[sub] = Subscription(sub, tenant, "wi")
    identity_id = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/wi"
    identity = create_identity(world, identity_id, "westus")
    issuer = f"{url}/oidc/cluster-guid/"
    world.put(
        {
            "id": f"{identity_id}/federatedIdentityCredentials/app",
            "name": "app",
            "type": FIC_TYPE,
            "properties": {
                "issuer": issuer,
                "subject": "system:serviceaccount:apps:probe",
                "audiences": [aad.TOKEN_EXCHANGE_AUDIENCE],
            },
        }
    )

    def assertion(subject: str) -> str:
        return world.signer.mint(
            audience=aad.TOKEN_EXCHANGE_AUDIENCE,
            tenant_id=tenant,
            object_id=subject,
            app_id=subject,
            issuer=issuer,
            subject=subject,
        )

    client_id = identity["properties"]["clientId"]
    good = ClientAssertionCredential(
        tenant,
        client_id,
        lambda: assertion("system:serviceaccount:apps:probe"),
        authority=url,
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    claims = jwt.decode(
        good.get_token("https://storage.azure.com/.default").token, options={"verify_signature": False}
    )
    assert claims["xms_mirid"] == identity_id and claims["oid"] == identity["properties"]["principalId"]
    bad = ClientAssertionCredential(
        tenant,
        client_id,
        lambda: assertion("system:serviceaccount:apps:other"),
        authority=url,
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    with pytest.raises(ClientAuthenticationError) as err:
        bad.get_token("https://storage.azure.com/.default")
    assert "AADSTS70021" in str(err.value)


def test_cluster_oidc_issuer_documents(sandbox: Any) -> None:
    customer = sandbox.add_customer(name="oidctest", adopt={"aksName": "oidc"})
    cluster = next(r for r in sandbox.state()["resources"] if r["id"] == customer["cluster_id"])
    issuer = cluster["properties"]["oidcIssuerProfile"]["issuerURL"]
    ca = sandbox.env["SANDBOX_CA_BUNDLE"]
    config = requests.get(f"{issuer}.well-known/openid-configuration", verify=ca, timeout=10).json()
    assert config["issuer"] == issuer
    assert requests.get(config["jwks_uri"], verify=ca, timeout=10).json()["keys"]
