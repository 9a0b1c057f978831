"""The seed's README procedure (``../shared/seed/seed-README.txt``), every command, with the real ``az``,
``kubectl``, ``helm`` and ``curl`` against the sandbox, in README order; one test per README section.

Adapted only where the sandbox must differ from the README's Azure: names and ids (``avama2`` becomes this
module's customer), hosts (``management.azure.com`` is the sandbox cloud's ARM endpoint, IMDS inside a pod is
``$AZURE_POD_IDENTITY_AUTHORITY_HOST`` when set, ``<account>.dfs.core.windows.net`` is the sandbox storage front),
quoting (commands are argument lists, so the README's unquoted ``&targetVersion`` cannot background the shell)
and output that would print a secret (tokens are dropped from what is printed). Two README mistakes are fixed:
``--set nmi.allowNetworkPluginKubenet=true`` belongs to ``helm install`` (``helm repo add`` has no ``--set``),
and ``-n avama2`` of ``az aks get-credentials`` names the cluster ``avama2aks`` as the README's ``az aks show``.

Setup (not README commands): a customer tenant and subscription from the admin API, the publisher's
``az login --service-principal`` in the sandbox cloud, ``az managedapp create`` of the sandbox's ServiceCatalog
definition of package 1.1.0 (1.2.0 grants the kubelet's Managed Identity Operator itself, which the README's
procedure grants by hand: ARM would answer its deployment RoleAssignmentExists) with the seed template's choices (node resource group ``avama2-aks-rg``, Owner for the identity on
it), and the bootstrap VM: the README logs in "on the bootstrapping VM, using its user assigned identity", so a
scale set must carry that identity first; the managed application's identity (``listTokens``) attaches it to
the node pool scale set, whose node's IMDS then plays the VM's.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from azure.mgmt.compute import ComputeManagementClient

from sandbox.client import SandboxProcess
from sandbox.seed import PREVIOUS_DEFINITION_ID

from .armkit import credential, list_tokens, make
from .azcli import AZ, AzCli, trust_ca

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = Path(__file__).resolve().parent / "seed" / "managedIdentityRoleAssignment.json"
KUBECTL = REPO / ".tools" / "bin" / "kubectl"
HELM = REPO / ".tools" / "bin" / "helm"

CUSTOMER = "avama2"
APP_RG = f"{CUSTOMER}-app"
APP = "avama2managedapp"
MRG = "avama2-mrg"
AKS = "avama2aks"
NODE_RG = "avama2-aks-rg"
IDENTITY = "avama2mi1"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CLASSIC_VM_CONTRIBUTOR = "d73bb868-a0df-4d4d-bd69-98a00b01fccb"
MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
T = TypeVar("T")


def eventually(fn: Callable[[], T], timeout_s: float = 30.0, what: str = "") -> T:
    """``fn()`` once it stops raising (role propagation, a cluster's Kubernetes API coming up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return fn()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def role_id(subscription: str, guid: str) -> str:
    return f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


class Seed:
    """Module state: the customer, both az profiles (publisher and bootstrap VM) and what earlier steps found."""

    def __init__(self, box: SandboxProcess, tmp: Path) -> None:
        self.box, self.tmp = box, tmp
        self.customer: dict[str, Any] = {}
        self.sub = ""
        self.publisher = AzCli(tmp / "az-publisher")
        self.vm: AzCli | None = None
        self.kubeconfig = tmp / "kubeconfig"
        self.facts: dict[str, str] = {}

    @property
    def mrg_id(self) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{MRG}"

    @property
    def node_rg_id(self) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{NODE_RG}"

    @property
    def uai_id(self) -> str:
        return f"{self.mrg_id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{IDENTITY}"

    @property
    def app_path(self) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{APP_RG}/providers/Microsoft.Solutions/applications/{APP}"

    def tool(self, *cmd: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """kubectl / helm / curl with this module's kubeconfig and helm homes (never the user's)."""
        env = {
            "PATH": f"{KUBECTL.parent}:/usr/bin:/bin",
            "HOME": str(self.tmp),
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CONFIG_HOME": str(self.tmp / "helm" / "config"),
            "HELM_CACHE_HOME": str(self.tmp / "helm" / "cache"),
            "HELM_DATA_HOME": str(self.tmp / "helm" / "data"),
        }
        proc = subprocess.run(list(cmd), env=env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd[:4])}... exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc


@pytest.fixture(scope="module")
def seed(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> Seed:
    if not AZ.exists() or not KUBECTL.exists() or not HELM.exists():
        pytest.fail("az, kubectl and helm come from `make install` (.tools/bin); run it first")
    trust_ca(Path(sandbox.env["SANDBOX_CA_BUNDLE"]))
    state = Seed(sandbox, tmp_path_factory.mktemp("seed"))
    state.customer = sandbox.add_customer(name=CUSTOMER)
    state.sub = state.customer["subscription_id"]
    pub = state.publisher
    pub.sign_in_as_publisher(sandbox.env, state.sub)
    parameters = {
        "aksName": {"value": AKS},
        "identityName": {"value": IDENTITY},
        "nodeResourceGroup": {"value": NODE_RG},
        "identityNodeRoleDefinitionId": {"value": role_id(state.sub, OWNER)},
        "nodeCount": {"value": 1},
    }
    app = pub.json(
        "managedapp",
        "create",
        "--resource-group",
        APP_RG,
        "--name",
        APP,
        "--location",
        state.customer["location"],
        "--kind",
        "ServiceCatalog",
        "--managedapp-definition-id",
        PREVIOUS_DEFINITION_ID,
        "--managed-rg-id",
        state.mrg_id,
        "--parameters",
        json.dumps(parameters),
    )
    # The CLI prints the application flattened (its SDK model): provisioningState and outputs at the top.
    assert app["provisioningState"] == "Succeeded", app
    assert app["managedResourceGroupId"].lower() == state.mrg_id.lower()
    outputs = {k: v["value"] for k, v in app["outputs"].items()}
    state.facts.update(
        storage=outputs["storageAccountName"],
        uai_client=outputs["identityClientId"],
        uai_principal=outputs["identityPrincipalId"],
    )
    _bootstrap_vm(state)
    return state


def _bootstrap_vm(state: Seed) -> None:
    """The README's bootstrap VM: a scale set that carries the template's identity, attached here as the managed
    application's identity (a token from ``listTokens``) so that the README's own ``az vmss identity assign``
    below is a re-run. Its node's IMDS answers ``az login --identity``."""
    box = state.box
    token = list_tokens(box, credential(box), state.app_path, state.sub)
    compute = make(ComputeManagementClient, box, token, state.sub)
    vmss = eventually(lambda: next(iter(compute.virtual_machine_scale_sets.list(NODE_RG))))
    name, vmss_id = str(vmss.name), str(vmss.id)
    attached = vmss.identity.user_assigned_identities if vmss.identity else None
    identities: dict[str, dict[str, Any]] = {i: {} for i in [*(attached or {}), state.uai_id]}
    patch: Any = {"identity": {"type": "UserAssigned", "userAssignedIdentities": identities}}
    poller = eventually(lambda: compute.virtual_machine_scale_sets.begin_update(NODE_RG, name, patch))
    poller.result()
    state.facts["vmss"], state.facts["vmss_id"] = name, vmss_id
    imds = f"{box.env['SANDBOX_IMDS_URL']}/nodes/{vmss_id}"
    state.vm = AzCli(state.tmp / "az-vm", env={"AZURE_POD_IDENTITY_AUTHORITY_HOST": imds})
    state.vm.use_sandbox_cloud(Path(box.env["SANDBOX_AZURE_CLOUD_CONFIG"]))


def _vm(seed: Seed) -> AzCli:
    assert seed.vm is not None
    return seed.vm


def _keys(mapping: dict[str, Any]) -> set[str]:
    return {k.lower() for k in mapping}


# --- Deployment-time User Assigned Identity to AKS Node Resource Group ---
def test_bootstrap_vm_logs_in_with_its_identity_and_assigns_it_to_the_scale_set(seed: Seed) -> None:
    vm = _vm(seed)
    # az login --identity -u <identity id>: az 2.91 refuses -u with --identity ("Passing the managed identity ID with
    # --username is no longer supported", command_modules/profile/custom.py); --resource-id is its replacement.
    accounts = vm.json("login", "--identity", "--resource-id", seed.uai_id)
    account = next(a for a in accounts if a["id"] == seed.sub)
    assert account["tenantId"] == seed.customer["tenant_id"]
    assert account["user"]["type"] == "servicePrincipal"
    assert account["user"]["assignedIdentityInfo"].lower() == f"msiresource-{seed.uai_id}".lower()
    vm.run("account", "set", "--subscription", seed.sub)
    kubelet = vm.json("aks", "show", "-g", MRG, "-n", AKS, "--query", "identityProfile.kubeletidentity")
    seed.facts["kubelet_id"] = kubelet["resourceId"]
    seed.facts["kubelet_oid"] = kubelet["objectId"]
    seed.facts["kubelet_client"] = kubelet["clientId"]
    # az vmss identity assign -g <VMSS_RESOURCE_GROUP> -n <VMSS_NAME> --identities <identity id>, twice: the
    # identity is already there (attached as the bootstrap VM's), so both runs repeat it; both must succeed.
    for _ in range(2):
        result = vm.json(
            "vmss", "identity", "assign", "-g", NODE_RG, "-n", seed.facts["vmss"], "--identities", seed.uai_id
        )
        assert {seed.uai_id.lower(), seed.facts["kubelet_id"].lower()} <= _keys(
            result["userAssignedIdentities"]
        )
    identity = vm.json("vmss", "show", "-g", NODE_RG, "-n", seed.facts["vmss"], "--query", "identity")
    assert identity["type"] == "UserAssigned"
    assert {seed.uai_id.lower(), seed.facts["kubelet_id"].lower()} == _keys(
        identity["userAssignedIdentities"]
    )


# --- Publisher get AKS credentials ---
def test_publisher_gets_aks_credentials(seed: Seed) -> None:
    out = seed.publisher.run(
        "aks", "get-credentials", "-g", MRG, "-n", AKS, "--file", str(seed.kubeconfig), "--overwrite-existing"
    )
    assert f'Merged "{AKS}" as current context in {seed.kubeconfig}' in out.stdout + out.stderr
    nodes = seed.tool(str(KUBECTL), "get", "nodes", "-o", "json")
    names = [n["metadata"]["name"] for n in json.loads(nodes.stdout)["items"]]
    assert names and all(n.startswith(seed.facts["vmss"]) for n in names), names


def _pod_script(*lines: str) -> str:
    """The README's interactive pod session as one ``sh -c`` script: IMDS is the node's link-local address on AKS
    and ``$AZURE_POD_IDENTITY_AUTHORITY_HOST`` in the sandbox's pods."""
    return "\n".join(
        [
            "set -e",
            "apk add curl jq",
            'IMDS="${AZURE_POD_IDENTITY_AUTHORITY_HOST:-http://169.254.169.254}"',
            *lines,
        ]
    )


def _first_json(text: str) -> Any:
    """The JSON value a section starts with (kubectl prints ``pod "x" deleted`` after the pod's output)."""
    return json.JSONDecoder().raw_decode(text.strip())[0]


def _sections(output: str) -> dict[str, str]:
    """Split a pod's output at ``== name`` marker lines."""
    sections: dict[str, str] = {}
    current = "preamble"
    for line in output.splitlines():
        if line.startswith("== "):
            current = line[3:].strip()
            sections[current] = ""
        else:
            sections[current] = sections.get(current, "") + line + "\n"
    return sections


# --- Using AKS node pool's VMSS Identity (+ Access storage using Bearer token) ---
def test_node_identity_from_a_pod_reads_storage(seed: Seed) -> None:
    # Prerequisite the README states: a storage data role for the kubelet identity, made "after deployment using
    # publisher credentials and the managedIdentityRoleAssignment.json template".
    deployment = seed.publisher.json(
        "deployment",
        "group",
        "create",
        "-g",
        MRG,
        "--template-file",
        str(TEMPLATE),
        "--parameters",
        f"principalId={seed.facts['kubelet_oid']}",
        "principalType=ServicePrincipal",
        f"roleDefinitionId={role_id(seed.sub, STORAGE_BLOB_DATA_READER)}",
        f"scope={seed.mrg_id}",
        f"delegatedManagedIdentityResourceId={seed.uai_id}",
    )
    assert deployment["properties"]["provisioningState"] == "Succeeded"
    storage = f"{seed.box.env['SANDBOX_STORAGE_URL']}/{seed.facts['storage']}"
    kubelet = seed.facts["kubelet_id"]
    token_url = '"$IMDS/metadata/identity/oauth2/token?api-version=2018-02-01'
    script = _pod_script(
        "echo '== instance'",
        'curl -H Metadata:true -s --noproxy "*" "$IMDS/metadata/instance?api-version=2020-06-01" | jq',
        "echo '== system-assigned'",
        f'curl -H Metadata:true -s --noproxy "*" {token_url}&resource=https%3A%2F%2Fmanagement.azure.com%2F"; echo',
        "echo '== user-assigned'",
        f'curl -H Metadata:true -s --noproxy "*" {token_url}&resource=https%3A%2F%2Fmanagement.azure.com%2F'
        f'&mi_res_id={kubelet}" | jq "del(.access_token)"',
        f'export ACCESS_TOKEN=$(curl -H Metadata:true -s --noproxy "*" {token_url}&resource=https://storage.azure.com/'
        f"&mi_res_id={kubelet}\" | jq -r '.access_token')",
        "echo '== list'",
        f'curl -s -H "Authorization: Bearer $ACCESS_TOKEN" "{storage}/folder1?recursive=false&resource=filesystem" | jq',
        "echo '== read'",
        f'curl -s -H "Authorization: Bearer $ACCESS_TOKEN" {storage}/folder1/t1.csv',
    )
    # kubectl run --rm -it test --image=alpine (the session's commands as the container's command)
    out = seed.tool(
        str(KUBECTL),
        "run",
        "--rm",
        "-i",
        "--restart=Never",
        "test",
        "--image=alpine",
        "--",
        "sh",
        "-c",
        script,
    )
    sections = _sections(out.stdout)
    compute = _first_json(sections["instance"])["compute"]
    assert compute["vmScaleSetName"] == seed.facts["vmss"]
    assert compute["resourceGroupName"].lower() == NODE_RG
    system = _first_json(sections["system-assigned"])
    assert system["error"] == "invalid_request"  # no system-assigned identity; two user-assigned ones
    user = _first_json(sections["user-assigned"])
    assert user["resource"] == "https://management.azure.com/" and user["token_type"] == "Bearer"
    listing = _first_json(sections["list"])
    assert [p["name"] for p in listing["paths"]] == ["t1.csv"]
    assert sections["read"].startswith("id,name,value")


# --- Pod Specific Identity: Deploy aad-pod-identity ---
def test_helm_installs_aad_pod_identity_from_the_chart_repo(seed: Seed) -> None:
    repo = seed.box.env["SANDBOX_CHART_REPO_URL"]
    added = seed.tool(str(HELM), "repo", "add", "aad-pod-identity", repo)
    assert '"aad-pod-identity" has been added to your repositories' in added.stdout
    installed = seed.tool(
        str(HELM),
        "install",
        "aad-pod-identity",
        "aad-pod-identity/aad-pod-identity",
        "--set",
        "nmi.allowNetworkPluginKubenet=true",
    )
    assert "STATUS: deployed" in installed.stdout
    pods = seed.tool(str(KUBECTL), "get", "daemonset", "-o", "json")
    names = [d["metadata"]["name"] for d in json.loads(pods.stdout)["items"]]
    assert any("nmi" in n for n in names), names


# --- Create Managed Identity and Reader Role Assignment ---
def test_identity_and_kubelet_identity_ids(seed: Seed) -> None:
    pub = seed.publisher
    created = pub.json("identity", "create", "-n", IDENTITY, "-g", MRG)
    # The identity exists (the template made it): a PUT keeps its ids.
    assert created["principalId"] == seed.facts["uai_principal"]
    assert created["clientId"] == seed.facts["uai_client"]
    shown = pub.json("identity", "show", "-n", IDENTITY, "-g", MRG)
    assert shown["id"].lower() == seed.uai_id.lower() and shown["principalId"] == created["principalId"]
    object_id = pub.run(
        "aks", "show", "-g", MRG, "-n", AKS, "--query", "identityProfile.kubeletidentity.objectId", "-otsv"
    ).stdout.strip()
    assert object_id == seed.facts["kubelet_oid"]


def test_role_assignment_template_deployments(seed: Seed) -> None:
    """Node resource group: as the bootstrap VM's identity (Owner there); the publisher holds no role on the node
    resource group (only the managed resource group's authorizations). Managed resource group: as the publisher."""
    common = ["--template-file", str(TEMPLATE), "--parameters"]
    kubelet = [f"principalId={seed.facts['kubelet_oid']}", "principalType=ServicePrincipal"]
    delegated = f"delegatedManagedIdentityResourceId={seed.uai_id}"
    node = _vm(seed).json(
        "deployment",
        "group",
        "create",
        "-g",
        NODE_RG,
        *common,
        *kubelet,
        f"roleDefinitionId={role_id(seed.sub, CLASSIC_VM_CONTRIBUTOR)}",
        f"scope={seed.node_rg_id}",
        delegated,
    )
    assert node["properties"]["provisioningState"] == "Succeeded"
    managed = seed.publisher.json(
        "deployment",
        "group",
        "create",
        "-g",
        MRG,
        *common,
        *kubelet,
        f"roleDefinitionId={role_id(seed.sub, MANAGED_IDENTITY_OPERATOR)}",
        f"scope={seed.mrg_id}",
        delegated,
    )
    assert managed["properties"]["provisioningState"] == "Succeeded"
    listed = _vm(seed).json(
        "role", "assignment", "list", "--assignee", seed.facts["kubelet_oid"], "--scope", seed.node_rg_id
    )
    assert "Classic Virtual Machine Contributor" in {a["roleDefinitionName"] for a in listed}


# --- Create AzureIdentity and AzureIdentityBinding; start a pod with the label; debug ---
def test_pod_identity_binding_gives_the_pod_its_identity(seed: Seed) -> None:
    manifest = seed.tmp / "podidentity-azureidentity.yaml"
    manifest.write_text(
        f"""apiVersion: "aadpodidentity.k8s.io/v1"
kind: AzureIdentity
metadata:
  name: {IDENTITY}
spec:
  type: 0
  resourceID: {seed.uai_id}
  clientID: {seed.facts["uai_client"]}
---
apiVersion: "aadpodidentity.k8s.io/v1"
kind: AzureIdentityBinding
metadata:
  name: {IDENTITY}-binding
spec:
  azureIdentity: {IDENTITY}
  selector: {IDENTITY}
"""
    )
    applied = seed.tool(str(KUBECTL), "apply", "-f", str(manifest))
    assert f"azureidentity.aadpodidentity.k8s.io/{IDENTITY} created" in applied.stdout
    assert f"azureidentitybinding.aadpodidentity.k8s.io/{IDENTITY}-binding created" in applied.stdout
    script = _pod_script(
        "echo '== token'",
        'curl -H Metadata:true -s --noproxy "*" "$IMDS/metadata/identity/oauth2/token?api-version=2018-02-01'
        '&resource=https%3A%2F%2Fmanagement.azure.com%2F" | jq "del(.access_token)"',
    )
    out = seed.tool(
        str(KUBECTL),
        "run",
        "--rm",
        "-i",
        "--restart=Never",
        "testpodidentity",
        "--image=alpine",
        f"--labels=aadpodidbinding={IDENTITY}",
        "--",
        "sh",
        "-c",
        script,
    )
    token = _first_json(_sections(out.stdout)["token"])
    assert token["client_id"] == seed.facts["uai_client"]
    assert token["resource"] == "https://management.azure.com/"
    described = seed.tool(str(KUBECTL), "describe", "AzureIdentity", IDENTITY).stdout
    assert seed.uai_id in described and seed.facts["uai_client"] in described
    binding = seed.tool(str(KUBECTL), "describe", "AzureIdentityBinding", f"{IDENTITY}-binding").stdout
    assert f"Azure Identity:  {IDENTITY}" in binding and f"Selector:        {IDENTITY}" in binding


# --- Publisher can Read and Delete Cross-Tenant Role Assignments ---
def test_publisher_reads_and_deletes_cross_tenant_role_assignments(seed: Seed) -> None:
    arm = seed.box.env["SANDBOX_ARM_URL"]
    tenant = seed.customer["tenant_id"]
    base = f"{arm}/subscriptions/{seed.sub}/resourceGroups/{MRG}/providers/Microsoft.Authorization/roleAssignments"
    listed = seed.publisher.json(
        "rest",
        "--method",
        "GET",
        "--uri",
        f"{base}?api-version=2019-04-01-preview&tenantId={tenant}&$filter=atScope%28%29",
    )
    operator = [
        a
        for a in listed["value"]
        if a["properties"]["principalId"] == seed.facts["kubelet_oid"]
        and a["properties"]["roleDefinitionId"].lower().endswith(MANAGED_IDENTITY_OPERATOR)
        and a["properties"]["scope"].lower() == seed.mrg_id.lower()
    ]
    assert len(operator) == 1, listed
    name = operator[0]["name"]
    deleted = seed.publisher.json(
        "rest",
        "--method",
        "DELETE",
        "--uri",
        f"{arm}/subscriptions/{seed.sub}/resourcegroups/{MRG}/providers/Microsoft.Authorization/roleAssignments/{name}"
        f"?api-version=2019-04-01-preview&tenantId={tenant}",
    )
    assert deleted["name"] == name
    after = seed.publisher.json(
        "rest",
        "--method",
        "GET",
        "--uri",
        f"{base}?api-version=2019-04-01-preview&tenantId={tenant}&$filter=atScope%28%29",
    )
    assert name not in {a["name"] for a in after["value"]}


# --- Refresh Azure Managed Application Permissions ---
def test_publisher_reads_the_app_and_refreshes_its_permissions(seed: Seed) -> None:
    pub = seed.publisher
    app = pub.json("rest", "--method", "GET", "--uri", f"{seed.app_path}?api-version=2019-07-01")
    assert app["properties"]["provisioningState"] == "Succeeded"
    assert app["properties"]["managedResourceGroupId"].lower() == seed.mrg_id.lower()
    pub.run("rest", "--method", "POST", "--uri", f"{seed.app_path}/refreshPermissions?api-version=2019-07-01")
    pub.run(
        "rest",
        "--method",
        "POST",
        "--uri",
        f"{seed.app_path}/refreshPermissions?api-version=2019-07-01&targetVersion=1.0.1",
    )


# --- Get Managed App Managed Identity ---
def test_publisher_lists_the_app_identity_tokens(seed: Seed) -> None:
    out = seed.publisher.run(
        "rest",
        "--method",
        "POST",
        "--uri",
        f"{seed.app_path}/listTokens?api-version=2018-09-01-preview",
        "--headers",
        "Content-Type=application/json",
        "--body",
        "{authorizationAudience: 'https://storage.azure.com/'}",
        "-o",
        "json",
    )
    tokens = json.loads(out.stdout)["value"]
    assert [t["authorizationAudience"] for t in tokens] == ["https://storage.azure.com/"]
    assert tokens[0]["resourceId"].lower() == seed.uai_id.lower() and tokens[0]["access_token"]


# --- az role assignment list: names from the Graph stand-in ---
def test_role_assignment_list_resolves_principal_names_through_graph(seed: Seed) -> None:
    vm = _vm(seed)
    at_mrg = vm.json("role", "assignment", "list", "--scope", seed.mrg_id)
    by_principal = {a["principalId"]: a for a in at_mrg}
    own = by_principal[seed.facts["uai_principal"]]
    assert own["roleDefinitionName"] == "Owner"
    assert (
        own["principalName"] == seed.facts["uai_client"]
    )  # a service principal's first servicePrincipalName
    assert own["principalType"] == "ServicePrincipal"
    # The publisher's principal lives in the publisher's tenant: the customer tenant's Graph does not know it.
    publisher = next(
        p["object_id"]
        for p in seed.box.state()["principals"]
        if p["client_id"] == seed.box.env["AZURE_CLIENT_ID"]
    )
    assert by_principal[publisher]["roleDefinitionName"] == "Owner"
    assert by_principal[publisher]["principalName"] == ""
    # --assignee <object id>: resolved through Graph (servicePrincipals filter, then getByIds), filtered client-side.
    kubelet = vm.json(
        "role", "assignment", "list", "--assignee", seed.facts["kubelet_oid"], "--scope", seed.node_rg_id
    )
    assert kubelet and {a["principalId"] for a in kubelet} == {seed.facts["kubelet_oid"]}
    assert {a["principalName"] for a in kubelet} == {seed.facts["kubelet_client"]}
    roles = {a["roleDefinitionName"] for a in kubelet}
    assert {"Managed Identity Operator", "Virtual Machine Contributor"} <= roles
    # `--scope X --all` is refused by the CLI itself (custom.py: "group or scope are not required when --all is used").
    refused = vm.run("role", "assignment", "list", "--scope", seed.mrg_id, "--all", check=False)
    assert refused.returncode != 0 and "not required when --all is used" in refused.stderr
    assert "REQUESTS_CA_BUNDLE" not in vm.env  # the CA is trusted through the CLI's own bundle
