"""CustomerSpec: every per-customer parameter, validated before any cloud call.

Field titles and descriptions become the Prefect UI run form, so they are written for the operator.
Strings that reach Azure, Kubernetes or helm are constrained to what those services accept, which also keeps
them from smuggling options, shell, YAML or filter syntax into anything downstream.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from .errors import InvalidSpecError

GUID_BODY = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
GUID = rf"^{GUID_BODY}$"
RESOURCE_GROUP = r"^[-A-Za-z0-9_.()]{0,89}[-A-Za-z0-9_()]$"
K8S_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
LABEL_VALUE = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
IDENTITY_ID = (
    rf"^/subscriptions/{GUID_BODY}/resource[gG]roups/[-A-Za-z0-9_.()]{{1,90}}"
    r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/[A-Za-z0-9][-A-Za-z0-9_]{2,127}$"
)
DEFINITION_ID = (
    rf"^/subscriptions/{GUID_BODY}/resource[gG]roups/[-A-Za-z0-9_.()]{{1,90}}"
    r"/providers/Microsoft\.Solutions/applicationDefinitions/[-A-Za-z0-9_.]{3,64}$"
)
MARKETPLACE_ID = r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,49}$"
SEMVER = r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$"
CRON_FIELD = r"[0-9A-Za-z*/,-]+"
CRON = rf"^{CRON_FIELD}(\s+{CRON_FIELD}){{4}}$"
# minute, hour, day of month, month, day of week: (lowest, highest, names allowed instead of numbers)
CRON_RANGES = (
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    (0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
CRON_ITEM = re.compile(r"^(\*|(?P<a>[0-9a-z]+)(-(?P<b>[0-9a-z]+))?)(/(?P<step>[0-9]+))?$")
# A display name is plain text: letters, digits, spaces and a little punctuation, starting with a letter or digit
# (no quotes, no YAML tags, no filter or shell syntax, no option-like leading dash, no control characters).
DISPLAY_NAME = r"^[\w][\w .,&()+-]*$"

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


def _optional_tabs(schema: dict[str, Any]) -> None:
    """Name the two tabs the run form shows for an optional field: 'Value', or 'Not set' for the default."""
    for branch in schema.get("anyOf", []):
        branch["title"] = "Not set" if branch.get("type") == "null" else "Value"


class MarketplacePlan(Strict):
    name: str = Field(..., title="Plan", pattern=MARKETPLACE_ID, description="Marketplace plan id")
    publisher: str = Field(..., title="Publisher", pattern=MARKETPLACE_ID, description="Publisher id")
    product: str = Field(..., title="Offer", pattern=MARKETPLACE_ID, description="Offer (product) id")
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
        1, title="Nodes in the system pool", ge=1, le=100, description="Initial node count, 1 to 100"
    )
    cross_tenant: bool = Field(
        True,
        title="Cross-tenant role assignments",
        description="Use delegatedManagedIdentityResourceId (true for Marketplace / cross-tenant deployments)",
    )


class ManagedApplicationSpec(Strict):
    name: str = Field(
        ...,
        title="Application name",
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]{2,63}$",
        description="Name of the Microsoft.Solutions/applications resource",
    )
    resource_group: str = Field(
        ...,
        title="Application resource group",
        pattern=RESOURCE_GROUP,
        description="Resource group of the managed application resource itself (not its managed resource group)",
    )
    parameters: ApplicationParameters = Field(
        ..., title="Application parameters", description="Parameters the application's template deploys with"
    )
    adopt_only: bool = Field(
        False,
        title="Adopt only",
        description="Never create the application: adopt the one the customer deployed",
    )
    definition_id: str | None = Field(
        None,
        title="Service catalog definition id",
        pattern=DEFINITION_ID,
        description="applicationDefinitions resource id; default from settings when no Marketplace plan is given",
        json_schema_extra=_optional_tabs,
    )
    plan: MarketplacePlan | None = Field(
        None,
        title="Marketplace plan",
        description="For Marketplace applications instead of a definition id",
        json_schema_extra=_optional_tabs,
    )
    managed_resource_group: str | None = Field(
        None,
        title="Managed resource group",
        pattern=RESOURCE_GROUP,
        description="Managed resource group name; default: the application name followed by -mrg",
        json_schema_extra=_optional_tabs,
    )

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
        description="aad-pod-identity-managed: identities pre-assigned to the scale sets, advised for managed "
        "applications. aad-pod-identity-standard: MIC assigns them, needs kubelet roles. "
        "workload-identity: Azure AD Workload Identity through a federated service account.",
    )
    namespace: str = Field(
        "default",
        title="Namespace",
        pattern=K8S_NAME,
        description="Namespace of the AzureIdentity/Binding or the service account, and of the probe pod",
    )
    selector: str | None = Field(
        None,
        title="Binding selector",
        pattern=LABEL_VALUE,
        description="aadpodidbinding label value for the application's identity; default the identity's name",
        json_schema_extra=_optional_tabs,
    )
    service_account: str = Field(
        "ama-storage-reader",
        title="Service account (workload identity)",
        pattern=K8S_NAME,
        description="Service account federated with the identity (workload-identity mode only)",
    )


class ChartSource(Strict):
    repository: str | None = Field(
        None,
        title="Chart repository URL",
        pattern=r"^https?://[^\s'\"`$;|&<>\\]+$",
        max_length=300,
        description="Helm repository URL; default the configured mirror or the upstream aad-pod-identity repository",
        json_schema_extra=_optional_tabs,
    )
    oci_reference: str | None = Field(
        None,
        title="OCI chart reference",
        pattern=r"^oci://[^\s'\"`$;|&<>\\]+$",
        max_length=300,
        description="oci://registry/path/chart instead of a repository URL",
        json_schema_extra=_optional_tabs,
    )
    name: str = Field(
        "aad-pod-identity", title="Chart name", pattern=K8S_NAME, description="Chart name in the repository"
    )
    version: str = Field(
        "4.1.18", title="Chart version", pattern=SEMVER, description="Pinned chart version, e.g. 4.1.18"
    )
    release: str = Field(
        "aad-pod-identity",
        title="Release name",
        pattern=K8S_NAME,
        max_length=53,
        description="Helm release name in the cluster (at most 53 characters, as helm requires)",
    )
    namespace: str = Field(
        "kube-system",
        title="Release namespace",
        pattern=K8S_NAME,
        description="Namespace the release goes to",
    )
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
        description="pod: a probe pod reads with the identity. publisher: listTokens for the identity, "
        "then read from the worker.",
    )
    account: str | None = Field(
        None,
        title="Storage account",
        pattern=r"^[a-z0-9]{3,24}$",
        description="ADLS Gen2 account; default the application's storage account",
        json_schema_extra=_optional_tabs,
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
        segments = value.strip("/").split("/")
        if ".." in segments:
            raise ValueError("must not contain '..'")
        if "" in segments or "." in segments:
            raise ValueError("must not contain empty or '.' path segments")
        return value.strip("/")

    @field_validator("filesystem")
    @classmethod
    def _container_name(cls, value: str) -> str:
        if "--" in value:
            raise ValueError("must not contain consecutive dashes (Azure container naming)")
        return value


class CustomerSpec(Strict):
    """One customer of the managed application, as the catalog and the Prefect run form describe it.

    Fields are in the order the run form shows them: who the customer is and where, then what to deploy and how,
    then the rest.
    """

    name: str = Field(
        ...,
        title="Customer short name",
        pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$",
        description="3 to 32 lower-case letters, digits or dashes; used in deployment names and resource labels",
    )
    tenant_id: Guid = Field(
        ..., title="Customer tenant id", description="Entra ID tenant of the customer (a GUID)"
    )
    subscription_id: Guid = Field(
        ..., title="Subscription id", description="Customer subscription of the application (a GUID)"
    )
    location: str = Field(
        "eastus",
        title="Location",
        pattern=r"^[a-z][a-z0-9]{2,30}$",
        description="Azure region of the application, e.g. eastus",
    )
    credential_source: CredentialSource = Field(
        CredentialSource.APPLICATION_TOKENS,
        title="Credentials for the node resource group",
        description="application-tokens: the publisher gets tokens for the application's identity with "
        "listTokens (no bootstrap VM). worker-managed-identity: the worker runs as that identity (the seed's "
        "bootstrap VM). publisher: the publisher principal, only where the template granted it roles on the "
        "node resource group.",
    )
    managed_application: ManagedApplicationSpec = Field(
        ...,
        title="Managed application",
        description="The Microsoft.Solutions/applications resource to deploy or adopt",
    )
    pod_identity: PodIdentitySpec = Field(
        default_factory=PodIdentitySpec,
        title="Pod identity",
        description="How pods in the cluster get the application's identity",
    )
    node_role: NodeRole = Field(
        NodeRole.VIRTUAL_MACHINE_CONTRIBUTOR,
        title="Identity role on node resource group",
        description="Role the application's identity holds on the AKS node resource group: Virtual Machine "
        "Contributor is the least privilege that manages scale sets; Owner as in the seed",
    )
    identities: list[Annotated[str, Field(pattern=IDENTITY_ID)]] = Field(
        default_factory=list,
        title="Extra identities to attach",
        max_length=10,
        description="userAssignedIdentities resource ids attached to every node pool besides the application's "
        "identity (at most 10)",
    )
    storage: StorageCheck = Field(
        default_factory=StorageCheck,
        title="Storage check",
        description="How onboarding proves a pod reads the customer's ADLS Gen2 storage with the identity",
    )
    chart: ChartSource = Field(
        default_factory=ChartSource,
        title="aad-pod-identity chart",
        description="Helm chart for the aad-pod-identity modes (not used with workload-identity)",
    )
    schedule: str | None = Field(
        None,
        title="Reconcile schedule (cron)",
        pattern=CRON,
        max_length=60,
        description="Cron (UTC) for this customer's own reconcile; the nightly fleet run covers all",
        json_schema_extra=_optional_tabs,
    )
    display_name: str | None = Field(
        None,
        title="Display name",
        max_length=100,
        pattern=DISPLAY_NAME,
        description="Name shown in the deployment description; default the short name",
        json_schema_extra=_optional_tabs,
    )

    @field_validator("schedule")
    @classmethod
    def _cron_ranges(cls, value: str | None) -> str | None:
        if value is not None:
            for text, (low, high, names) in zip(value.lower().split(), CRON_RANGES, strict=True):
                for item in text.split(","):
                    _check_cron_item(item, low, high, names)
        return value

    @property
    def label(self) -> str:
        return self.display_name or self.name


def _check_cron_item(item: str, low: int, high: int, names: tuple[str, ...]) -> None:
    """One comma-separated item of a cron field: ``*``, ``a`` or ``a-b``, optionally ``/step``; a bound is a number
    in the field's range or, for months and days of the week, a name (jan, mon)."""
    match = CRON_ITEM.match(item)
    if match is None or match["step"] == "0":
        raise ValueError(f"cron item {item!r} is not '*', 'a' or 'a-b' with an optional '/step'")
    for bound in (match["a"], match["b"]):
        if bound is None or bound in names:
            continue
        if not bound.isdigit() or not low <= int(bound) <= high:
            raise ValueError(f"cron value {bound!r} is not a number in {low}-{high} or a month/day name")


def _describe(error: ErrorDetails) -> str:
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
