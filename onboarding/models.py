"""CustomerSpec: every per-customer parameter, validated before any cloud call.

Field titles and descriptions become the Prefect UI run form, so they are written for the operator.
Strings that reach Azure, Kubernetes or helm are constrained to what those services accept, which also keeps
them from smuggling options, shell, YAML or filter syntax into anything downstream.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import InvalidSpecError

GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
RESOURCE_GROUP = r"^[-A-Za-z0-9_.()]{0,89}[-A-Za-z0-9_()]$"
K8S_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
LABEL_VALUE = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
IDENTITY_ID = (
    r"^/subscriptions/[0-9a-fA-F-]{36}/resource[gG]roups/[-A-Za-z0-9_.()]{1,90}"
    r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/[A-Za-z0-9][-A-Za-z0-9_]{2,127}$"
)
DEFINITION_ID = (
    r"^/subscriptions/[0-9a-fA-F-]{36}/resource[gG]roups/[-A-Za-z0-9_.()]{1,90}"
    r"/providers/Microsoft\.Solutions/applicationDefinitions/[-A-Za-z0-9_.]{3,64}$"
)
SEMVER = r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$"
CRON = r"^(\S+\s+){4}\S+$"

Guid = Annotated[str, Field(pattern=GUID, min_length=36, max_length=36)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, use_enum_values=False)


class CredentialSource(StrEnum):
    PUBLISHER = "publisher"
    APPLICATION_TOKENS = "application-tokens"
    WORKER_MANAGED_IDENTITY = "worker-managed-identity"


class PodIdentityMode(StrEnum):
    AAD_POD_IDENTITY_STANDARD = "aad-pod-identity-standard"
    AAD_POD_IDENTITY_MANAGED = "aad-pod-identity-managed"
    WORKLOAD_IDENTITY = "workload-identity"


class NodeRole(StrEnum):
    """Role the application's identity holds on the node resource group."""

    VIRTUAL_MACHINE_CONTRIBUTOR = "Virtual Machine Contributor"
    CONTRIBUTOR = "Contributor"
    OWNER = "Owner"


class StorageCheckMode(StrEnum):
    POD = "pod"
    PUBLISHER = "publisher"


class MarketplacePlan(Strict):
    name: str = Field(..., title="Plan", pattern=r"^[-A-Za-z0-9_.]{1,50}$", description="Marketplace plan id")
    publisher: str = Field(
        ..., title="Publisher", pattern=r"^[-A-Za-z0-9_.]{1,50}$", description="Publisher id"
    )
    product: str = Field(
        ..., title="Offer", pattern=r"^[-A-Za-z0-9_.]{1,50}$", description="Offer (product) id"
    )
    version: str = Field(..., title="Version", pattern=SEMVER, description="Plan version, e.g. 1.0.0")


class ApplicationParameters(Strict):
    aks_name: str = Field(
        ...,
        title="AKS cluster name",
        pattern=r"^[A-Za-z0-9][-_A-Za-z0-9]{0,61}[A-Za-z0-9]$",
        description="Name of the AKS cluster the application deploys",
    )
    node_resource_group: str = Field(
        ...,
        title="Node resource group",
        pattern=RESOURCE_GROUP,
        max_length=80,
        description="Explicit AKS node resource group name (the template sets it so roles can be granted there)",
    )
    node_count: int = Field(
        1, title="Nodes in the system pool", ge=1, le=100, description="Initial node count"
    )
    cross_tenant: bool = Field(
        True,
        title="Cross-tenant role assignments",
        description="Use delegatedManagedIdentityResourceId (true for Marketplace / cross-tenant deployments)",
    )


class ManagedApplicationSpec(Strict):
    resource_group: str = Field(
        ...,
        title="Application resource group",
        pattern=RESOURCE_GROUP,
        description="Resource group of the managed application resource itself",
    )
    name: str = Field(
        ...,
        title="Application name",
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]{2,63}$",
        description="Name of the Microsoft.Solutions/applications resource",
    )
    managed_resource_group: str | None = Field(
        None,
        title="Managed resource group",
        pattern=RESOURCE_GROUP,
        description="Managed resource group name; default '<application name>-mrg'",
    )
    definition_id: str | None = Field(
        None,
        title="Service catalog definition id",
        pattern=DEFINITION_ID,
        description="applicationDefinitions resource id; default from settings when no Marketplace plan is given",
    )
    plan: MarketplacePlan | None = Field(
        None, title="Marketplace plan", description="For Marketplace applications instead of a definition id"
    )
    adopt_only: bool = Field(
        False,
        title="Adopt only",
        description="Never create the application: adopt the one the customer deployed",
    )
    parameters: ApplicationParameters = Field(..., title="Application parameters")

    @model_validator(mode="after")
    def _one_source(self) -> ManagedApplicationSpec:
        if self.definition_id and self.plan:
            raise ValueError("give either definition_id or plan, not both")
        return self

    @property
    def managed_resource_group_name(self) -> str:
        return self.managed_resource_group or f"{self.name}-mrg"


class PodIdentitySpec(Strict):
    mode: PodIdentityMode = Field(
        PodIdentityMode.AAD_POD_IDENTITY_MANAGED,
        title="Pod identity mode",
        description="aad-pod-identity managed mode (identities pre-assigned, advised for managed applications), "
        "standard mode (MIC assigns; needs kubelet roles), or Azure AD Workload Identity",
    )
    namespace: str = Field(
        "default",
        title="Namespace",
        pattern=K8S_NAME,
        description="Namespace of the AzureIdentity/Binding, service account and probe",
    )
    selector: str | None = Field(
        None,
        title="Binding selector",
        pattern=LABEL_VALUE,
        description="aadpodidbinding label value; default the identity's name",
    )
    service_account: str = Field(
        "ama-storage-reader",
        title="Service account (workload identity)",
        pattern=K8S_NAME,
        description="Service account federated with the identity",
    )


class ChartSource(Strict):
    repository: str | None = Field(
        None,
        title="Chart repository URL",
        pattern=r"^https?://[^\s'\"`$;|&<>\\]+$",
        max_length=300,
        description="Helm repository URL; default the configured mirror or the upstream aad-pod-identity repository",
    )
    oci_reference: str | None = Field(
        None,
        title="OCI chart reference",
        pattern=r"^oci://[^\s'\"`$;|&<>\\]+$",
        max_length=300,
        description="oci://registry/path/chart instead of a repository URL",
    )
    name: str = Field("aad-pod-identity", title="Chart name", pattern=K8S_NAME)
    version: str = Field("4.1.18", title="Chart version", pattern=SEMVER, description="Pinned chart version")
    release: str = Field("aad-pod-identity", title="Release name", pattern=K8S_NAME)
    namespace: str = Field("kube-system", title="Release namespace", pattern=K8S_NAME)
    allow_kubenet: bool = Field(
        True,
        title="Allow kubenet",
        description="nmi.allowNetworkPluginKubenet (AKS clusters on kubenet need it)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ChartSource:
        if self.repository and self.oci_reference:
            raise ValueError("give either repository or oci_reference, not both")
        return self


class StorageCheck(Strict):
    mode: StorageCheckMode = Field(
        StorageCheckMode.POD,
        title="How to verify",
        description="pod: a probe pod reads with the identity; publisher: listTokens then read from here",
    )
    account: str | None = Field(
        None,
        title="Storage account",
        pattern=r"^[a-z0-9]{3,24}$",
        description="ADLS Gen2 account; default the application's storage account",
    )
    filesystem: str = Field(
        "data",
        title="Filesystem",
        pattern=r"^[a-z0-9][-a-z0-9]{1,61}[a-z0-9]$",
        description="Filesystem (container) to list",
    )
    directory: str = Field(
        "folder1",
        title="Directory",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,254}$",
        description="Directory to list (the seed lists folder1)",
    )
    file: str = Field(
        "t1.csv",
        title="File to read",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$",
        description="File in the directory to read",
    )
    grant_reader: bool = Field(
        True,
        title="Grant Storage Blob Data Reader",
        description="Give the identity Storage Blob Data Reader on the account first",
    )
    recheck_on_node_pool_change: bool = Field(
        False,
        title="Re-verify after node pool changes",
        description="Run the storage probe again after identities are attached to a new or drifted node pool",
    )

    @field_validator("directory")
    @classmethod
    def _no_traversal(cls, value: str) -> str:
        if ".." in value.split("/"):
            raise ValueError("must not contain '..'")
        return value.strip("/")


class CustomerSpec(Strict):
    """One customer of the managed application, as the catalog and the Prefect run form describe it."""

    name: str = Field(
        ...,
        title="Customer short name",
        pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$",
        description="Lower-case short name; used in deployment names and resource labels",
    )
    display_name: str | None = Field(None, title="Display name", max_length=100, pattern=r"^[^<>`$\\]*$")
    tenant_id: Guid = Field(..., title="Customer tenant id", description="Entra ID tenant of the customer")
    subscription_id: Guid = Field(
        ..., title="Subscription id", description="Customer subscription of the application"
    )
    location: str = Field(
        "eastus", title="Location", pattern=r"^[a-z][a-z0-9]{2,30}$", description="Azure region"
    )
    credential_source: CredentialSource = Field(
        CredentialSource.APPLICATION_TOKENS,
        title="Credentials for the node resource group",
        description="application-tokens: the publisher gets tokens for the application's identity with listTokens "
        "(no bootstrap VM); worker-managed-identity: the worker runs as that identity (the seed's bootstrap VM); "
        "publisher: the publisher principal, only where the template granted it roles on the node resource group",
    )
    managed_application: ManagedApplicationSpec = Field(..., title="Managed application")
    identities: list[Annotated[str, Field(pattern=IDENTITY_ID)]] = Field(
        default_factory=list,
        title="Extra identities to attach",
        max_length=10,
        description="userAssignedIdentities ids attached to every node pool besides the application's identity",
    )
    node_role: NodeRole = Field(
        NodeRole.VIRTUAL_MACHINE_CONTRIBUTOR,
        title="Identity role on node resource group",
        description="Least privilege that manages scale sets; Owner as in the seed",
    )
    pod_identity: PodIdentitySpec = Field(default_factory=PodIdentitySpec, title="Pod identity")
    chart: ChartSource = Field(default_factory=ChartSource, title="aad-pod-identity chart")
    storage: StorageCheck = Field(default_factory=StorageCheck, title="Storage check")
    schedule: str | None = Field(
        None,
        title="Reconcile schedule (cron)",
        pattern=CRON,
        max_length=60,
        description="Cron for this customer's own reconcile; the nightly fleet run covers all",
    )

    @property
    def label(self) -> str:
        return self.display_name or self.name


def _describe(error: dict[str, Any]) -> str:
    field = ".".join(str(p) for p in error["loc"]) or "(spec)"
    return f"field {field}: {error['msg']}"


def load_customer_spec(data: Any, *, source: str | None = None) -> CustomerSpec:
    """Validate raw data into a CustomerSpec; errors name the customer and every bad field."""
    name = data.get("name") if isinstance(data, dict) else None
    who = str(name) if isinstance(name, str) and len(name) < 60 else (source or "<unnamed>")
    if not isinstance(data, dict):
        raise InvalidSpecError(f"spec must be a mapping, got {type(data).__name__}", customer=who)
    try:
        return CustomerSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors(include_url=False))
        where = f" ({source})" if source else ""
        raise InvalidSpecError(
            f"invalid customer spec{where}: {problems}",
            customer=who,
            hint="fix the listed fields and run again",
        ) from None
