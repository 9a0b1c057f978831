"""Step 6: prove storage access the way the workload will use it.

Grants Storage Blob Data Reader first when the spec asks, then (``storage.mode: pod``) runs the probe Job in the
cluster as the application's identity (aad-pod-identity label or workload identity service account) and reads
``<filesystem>/<directory>/<file>``; or (``publisher``) reads from here with a listTokens token. A 403 is blamed on
role propagation and retried with backoff within ``propagation_budget_s``; every other failure is diagnosed.
"""

from __future__ import annotations

from typing import Any

from ..azure.identities import same_id
from ..cluster import ClusterInfo
from ..context import CustomerContext
from ..errors import AuthorizationPendingError, OnboardingError, PermanentError, TransientError
from ..kube import pod_identity as aad
from ..kube import workload_identity as wi
from ..kube.kubeconfig import customer_cluster
from ..kube.probe_job import ProbeOutcome, ProbeRequest, run_probe
from ..models import PodIdentityMode, StorageCheckMode
from ..results import StepResult
from . import StepRecorder, storage
from .migration import follow
from .pod_identity import selector_for

STEP = "verify_storage_access"


def storage_audience(scope: str) -> str:
    """``https://storage.azure.com/.default`` -> ``https://storage.azure.com/`` (IMDS ``resource``)."""
    resource = scope.removesuffix(".default")
    return resource if resource.endswith("/") else resource + "/"


def probe_request(ctx: CustomerContext, cluster: ClusterInfo, *, label_pod: bool = True) -> ProbeRequest:
    spec = ctx.spec
    if not cluster.dfs_endpoint:
        raise PermanentError(
            "no ADLS Gen2 storage account was found for the application",
            customer=spec.name,
            step=STEP,
            hint="set storage.account in the customer spec",
        )
    identity = cluster.app_identity
    workload = spec.pod_identity.mode is PodIdentityMode.WORKLOAD_IDENTITY
    return ProbeRequest(
        dfs_endpoint=cluster.dfs_endpoint,
        filesystem=spec.storage.filesystem,
        directory=spec.storage.directory,
        file=spec.storage.file,
        client_id=identity.client_id,
        resource_id=identity.resource_id,
        audience=storage_audience(ctx.settings.storage_scope),
        namespace=spec.pod_identity.namespace,
        image=ctx.settings.probe_image,
        selector=selector_for(ctx, cluster, identity) if (label_pod and not workload) else None,
        service_account=spec.pod_identity.service_account if (label_pod and workload) else None,
        timeout_s=ctx.settings.probe_timeout_s,
    )


def identity_mismatch(found: dict[str, Any], cluster: ClusterInfo) -> str | None:
    """Why the probe's token claims (``xms_mirid``, ``oid``, never the token) do not prove the token is the
    application's identity; None when they do. A token naming no identity proves nothing, so it is refused."""
    identity = cluster.app_identity
    mirid, oid = found.get("xms_mirid"), found.get("oid")
    if mirid:
        if same_id(str(mirid), identity.resource_id):
            return None
        return f"a token for another identity (xms_mirid {mirid}), expected {identity.name} ({identity.resource_id})"
    if oid:
        if str(oid).lower() == identity.principal_id.lower():
            return None
        return (
            f"a token for another identity (oid {oid}), expected {identity.name} "
            f"(object id {identity.principal_id})"
        )
    seen = ", ".join(sorted(found)) or "none"
    return (
        f"a token with neither an xms_mirid nor an oid claim (claims seen: {seen}), so it cannot be shown to be "
        f"{identity.name} ({identity.resource_id})"
    )


def diagnose(
    outcome: ProbeOutcome, request: ProbeRequest, ctx: CustomerContext, cluster: ClusterInfo
) -> OnboardingError | None:
    """None when the probe proved access; otherwise the error that says what is wrong and what to do."""
    kw: dict[str, Any] = {"customer": ctx.spec.name, "step": STEP}
    identity = cluster.app_identity
    result = outcome.result
    where = f"probe Job {request.namespace}/{outcome.job}"
    if result is None:
        if outcome.phase == "Timeout":
            return TransientError(
                f"{where} did not finish within {request.timeout_s:g} s",
                **kw,
                hint="check that the image can be pulled and the nodes have room",
            )
        return PermanentError(
            f"{where} ended {outcome.phase} without a result; log: {outcome.log_tail[-300:]!r}",
            **kw,
            hint=f"check that image {request.image} runs python",
        )
    stage, status, error = result.get("stage"), int(result.get("status") or 0), str(result.get("error") or "")
    mismatch = identity_mismatch(result.get("identity") or {}, cluster) if stage != "token" else None
    if mismatch:
        return PermanentError(
            f"{where} got {mismatch}",
            **kw,
            hint="the pod's token must come from NMI (aad-pod-identity) or the federated service account token "
            f"for {identity.name}: check that no other AzureIdentityBinding uses the same selector, that the "
            "pod asks with the identity's client id, and that nothing else in the pod answers token requests",
        )
    if result.get("ok"):
        return None
    if status == 0 or status >= 500 or status == 429:
        return TransientError(f"{where}: {stage} failed ({status or 'no answer'}): {error}", **kw)
    if stage == "token":
        return _token_error(where, status, error, request, ctx, cluster, kw)
    fs, directory = request.filesystem, request.directory
    account = cluster.storage_account_name or request.dfs_endpoint
    if status == 403:
        return AuthorizationPendingError(
            f"{where}: identity {identity.name} may not {stage} {fs}/{directory} in {account} ({status}: {error})",
            status=status,
            **kw,
            hint="grant Storage Blob Data Reader on the account (storage.grant_reader) and wait for propagation",
        )
    if status == 404 and stage == "list":
        return PermanentError(
            f"{where}: filesystem {fs!r} or directory {directory!r} not found in {account}",
            status=status,
            **kw,
            hint="check storage.filesystem/directory in the customer spec",
        )
    if status == 404:
        return PermanentError(
            f"{where}: file {fs}/{directory}/{request.file} not found in {account}",
            status=status,
            **kw,
            hint="check storage.file in the customer spec",
        )
    return PermanentError(
        f"{where}: {stage} failed with {status}: {error}",
        status=status,
        **kw,
        hint="the token's audience must be the storage audience (settings.storage_scope)"
        if status == 401
        else None,
    )


def _token_error(
    where: str,
    status: int,
    error: str,
    request: ProbeRequest,
    ctx: CustomerContext,
    cluster: ClusterInfo,
    kw: dict[str, Any],
) -> OnboardingError:
    identity = cluster.app_identity
    spec = ctx.spec
    ns = request.namespace
    if spec.pod_identity.mode is PodIdentityMode.WORKLOAD_IDENTITY:
        fic = wi.credential_name(
            customer=spec.name, namespace=ns, service_account=spec.pod_identity.service_account
        )
        if not request.service_account:
            return PermanentError(
                f"{where}: no token: the pod is not labelled {wi.USE_LABEL}=true with service "
                f"account {spec.pod_identity.service_account} ({status}: {error})",
                **kw,
                hint="workload identity needs the label and the federated service account",
            )
        return PermanentError(
            f"{where}: no token for {identity.name} from the federated service account token ({status}: {error})",
            **kw,
            hint=f"federated identity credential {fic} on {identity.name} must trust issuer "
            f"{cluster.oidc_issuer_url} and subject {wi.subject(ns, spec.pod_identity.service_account)}; "
            "run install_pod_identity",
        )
    selector = selector_for(ctx, cluster, identity)
    binding = f"AzureIdentityBinding {ns}/{aad.binding_name(identity.name)} (selector {selector})"
    if not request.selector:
        return PermanentError(
            f"{where}: no token for {identity.name}: the pod has no aadpodidbinding label, so {binding} does not "
            f"apply to it and NMI refuses ({status}: {error})",
            **kw,
            hint=f"pods that read storage must carry the label aadpodidbinding={selector}",
        )
    return PermanentError(
        f"{where}: no token for {identity.name} ({identity.client_id}) ({status}: {error})",
        **kw,
        hint=f"either {binding} or its AzureIdentity is missing (run install_pod_identity), or the identity is "
        "not on the node pool's scale set (run attach_identities; managed mode needs it pre-assigned)",
    )


def record_publisher_check(ctx: CustomerContext, cluster: ClusterInfo, rec: StepRecorder) -> None:
    """List and read the storage from here as the identity (listTokens) and record the proof."""
    check = storage.verify_storage_from_publisher(ctx, cluster)
    rec.waited(float(check.get("waited_s") or 0.0))
    rec.unchanged(f"storage access verified from the publisher: read {check.get('bytes')} bytes")
    rec.result.details.update(publisher_check=check, verified=True)


def verify_storage_access(
    ctx: CustomerContext,
    cluster: ClusterInfo,
    *,
    dry_run: bool = False,
    label_pod: bool = True,
    grant: bool = True,
) -> StepResult:
    """Grant the storage reader role if asked, then prove access (see module doc).

    ``label_pod=False`` runs the probe without the identity label / service account: a negative control that
    must fail with a diagnosis naming the binding. ``grant=False``: the caller already ran ensure_storage_reader.
    """
    spec = ctx.spec
    rec = StepRecorder(ctx, STEP, dry_run=dry_run)
    if spec.storage.grant_reader and grant:
        rec.include(storage.ensure_storage_reader(ctx, cluster, dry_run=dry_run), as_detail="grant")
    if spec.storage.mode is StorageCheckMode.PUBLISHER:
        if dry_run:
            return rec.finish(plan="list and read storage from here with a listTokens token for the identity")
        record_publisher_check(ctx, cluster, rec)
        return rec.finish()
    request = probe_request(ctx, cluster, label_pod=label_pod)
    target = f"{request.filesystem}/{request.directory}/{request.file}"
    if dry_run:
        return rec.finish(
            plan=f"run a probe Job in namespace {request.namespace} as {cluster.app_identity.name} "
            f"to list and read {target}"
        )
    attempts: list[dict[str, Any]] = []
    with customer_cluster(ctx, cluster, step=STEP) as access:
        followed = follow(ctx, access, rec, step=STEP)
        if followed is not ctx:  # the cluster's migration record: the probe goes as the recorded mode's pod
            ctx, request = followed, probe_request(followed, cluster, label_pod=label_pod)

        def attempt() -> ProbeOutcome:
            outcome = run_probe(access.api, request, customer=spec.name, step=STEP)
            attempts.append(
                {
                    "job": outcome.job,
                    "phase": outcome.phase,
                    "seconds": round(outcome.seconds, 2),
                    "stage": (outcome.result or {}).get("stage"),
                    "status": (outcome.result or {}).get("status"),
                }
            )
            error = diagnose(outcome, request, ctx, cluster)
            if error is not None:
                raise error
            return outcome

        try:
            outcome, waited = ctx.through_propagation(
                attempt,
                what=f"storage access to {target}",
                hint="grant Storage Blob Data Reader to the identity on the storage account",
            )
        finally:
            rec.result.details["probe_attempts"] = attempts
    probe = outcome.result or {}
    rec.waited(waited)
    rec.unchanged(f"storage access verified from a pod: read {target} ({probe.get('file_bytes')} bytes)")
    return rec.finish(
        verified=True,
        probe={
            "job": outcome.job,
            "seconds": round(outcome.seconds, 2),
            "identity": probe.get("identity"),
            "paths": probe.get("paths"),
            "file_bytes": probe.get("file_bytes"),
            "first_line": probe.get("first_line"),
        },
    )
