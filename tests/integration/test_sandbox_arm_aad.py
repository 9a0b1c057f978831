"""The AAD stand-in through azure-identity, and ARM's bearer token checks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientAssertionCredential, WorkloadIdentityCredential
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


PROBE_SA = "system:serviceaccount:apps:probe"
CUSTOM_SA = "system:serviceaccount:apps:custom"
CUSTOM_AUDIENCE = "api://CustomTokenExchange"
STORAGE = "https://storage.azure.com/.default"


@dataclass
class Federation:
    """A managed identity with two federated credentials from one cluster issuer: ``PROBE_SA`` for
    ``api://AzureADTokenExchange`` and ``CUSTOM_SA`` for ``CUSTOM_AUDIENCE`` only."""

    world: World
    url: str
    ca: str
    tenant: str
    issuer: str
    identity_id: str
    identity: dict[str, Any]

    def assertion(
        self, subject: str, *, issuer: str = "", audience: str = aad.TOKEN_EXCHANGE_AUDIENCE
    ) -> str:
        """A service-account token as the cluster would sign it."""
        return self.world.signer.mint(
            audience=audience,
            tenant_id=self.tenant,
            object_id=subject,
            app_id=subject,
            issuer=issuer or self.issuer,
            subject=subject,
        )

    def credential(self, assertion: str, client_id: str = "") -> ClientAssertionCredential:
        return ClientAssertionCredential(
            self.tenant,
            client_id or self.identity["properties"]["clientId"],
            lambda: assertion,
            authority=self.url,
            disable_instance_discovery=True,
            connection_verify=self.ca,
        )


@pytest.fixture
def federation(local_aad: tuple[World, str, str]) -> Federation:
    world, url, ca = local_aad
    tenant, sub = "00000000-0000-4000-8000-00000000c001", "00000000-0000-4000-8000-00000000d001"
    world.tenants[tenant] = Tenant(tenant, "wi")
    world.subscriptions[sub] = Subscription(sub, tenant, "wi")
    identity_id = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/wi"
    identity = create_identity(world, identity_id, "westus")
    issuer = f"{url}/oidc/cluster-guid/"
    for name, subject, audience in (
        ("app", PROBE_SA, aad.TOKEN_EXCHANGE_AUDIENCE),
        ("custom", CUSTOM_SA, CUSTOM_AUDIENCE),
    ):
        world.put(
            {
                "id": f"{identity_id}/federatedIdentityCredentials/{name}",
                "name": name,
                "type": FIC_TYPE,
                "properties": {"issuer": issuer, "subject": subject, "audiences": [audience]},
            }
        )
    return Federation(world, url, ca, tenant, issuer, identity_id, identity)


def refusal(credential: ClientAssertionCredential) -> str:
    with pytest.raises(ClientAuthenticationError) as err:
        credential.get_token(STORAGE)
    return str(err.value)


def test_workload_identity_federation(federation: Federation) -> None:
    fed = federation
    token = fed.credential(fed.assertion(PROBE_SA)).get_token(STORAGE).token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (
        claims["xms_mirid"] == fed.identity_id and claims["oid"] == fed.identity["properties"]["principalId"]
    )
    # The credential's audience is what must match, whatever it is.
    custom = fed.credential(fed.assertion(CUSTOM_SA, audience=CUSTOM_AUDIENCE)).get_token(STORAGE).token
    assert jwt.decode(custom, options={"verify_signature": False})["xms_mirid"] == fed.identity_id


def test_workload_identity_refuses_another_subject(federation: Federation) -> None:
    refused = refusal(federation.credential(federation.assertion("system:serviceaccount:apps:other")))
    assert "AADSTS700213" in refused and "subject 'system:serviceaccount:apps:other'" in refused


def test_workload_identity_refuses_another_issuer(federation: Federation) -> None:
    other = f"{federation.url}/oidc/another-cluster/"
    refused = refusal(federation.credential(federation.assertion(PROBE_SA, issuer=other)))
    assert "AADSTS700211" in refused and f"issuer '{other}'" in refused


def test_workload_identity_refuses_an_audience_the_credential_lacks(federation: Federation) -> None:
    fed = federation
    # a token for another audience than api://AzureADTokenExchange ...
    refused = refusal(fed.credential(fed.assertion(PROBE_SA, audience="api://SomethingElse")))
    assert "AADSTS700212" in refused and "audience 'api://SomethingElse'" in refused
    # ... and a credential whose audiences do not include api://AzureADTokenExchange
    refused = refusal(fed.credential(fed.assertion(CUSTOM_SA)))
    assert "AADSTS700212" in refused and f"audience '{aad.TOKEN_EXCHANGE_AUDIENCE}'" in refused


def test_workload_identity_refuses_an_unknown_client_id(federation: Federation, tmp_path: Path) -> None:
    """Through WorkloadIdentityCredential, as a pod uses it (``AZURE_FEDERATED_TOKEN_FILE``)."""
    token_file = tmp_path / "token"
    token_file.write_text(federation.assertion(PROBE_SA))
    unknown = "00000000-0000-4000-8000-0000000000ff"
    credential = WorkloadIdentityCredential(
        tenant_id=federation.tenant,
        client_id=unknown,
        token_file_path=str(token_file),
        authority=federation.url,
        disable_instance_discovery=True,
        connection_verify=federation.ca,
    )
    refused = refusal(credential)
    assert "AADSTS700016" in refused and f"identifier '{unknown}'" in refused


def test_cluster_oidc_issuer_documents(sandbox: Any) -> None:
    customer = sandbox.add_customer(
        name="oidctest", adopt={"aksName": "oidc", "enableWorkloadIdentity": True}
    )
    cluster = next(r for r in sandbox.state()["resources"] if r["id"] == customer["cluster_id"])
    issuer = cluster["properties"]["oidcIssuerProfile"]["issuerURL"]
    ca = sandbox.env["SANDBOX_CA_BUNDLE"]
    config = requests.get(f"{issuer}.well-known/openid-configuration", verify=ca, timeout=10).json()
    assert config["issuer"] == issuer
    assert requests.get(config["jwks_uri"], verify=ca, timeout=10).json()["keys"]
