"""IMDS for nodes and pods (plain HTTP), with aad-pod-identity NMI semantics for pods.

URLs (append ``/metadata/identity/oauth2/token?api-version=2018-02-01&resource=...``, header ``Metadata: true``):
- ``{imds}/nodes/{vmss id, path-encoded or not, or node name}``: a VM of that scale set;
- ``{imds}/clusters/{cluster guid}/nodes/{node name}/pods/{namespace}/{pod}``: a pod (what the kubelet puts in
  ``AZURE_POD_IDENTITY_AUTHORITY_HOST``); the cluster guid is ``sandbox.kube.cluster.cluster_guid(cluster id)``.
Node rules (as Azure IMDS): the identity (``client_id``, ``object_id``, ``msi_res_id``/``mi_res_id``) must be
attached to the scale set; none named and exactly one attached -> that one; otherwise 400.
Pod rules: when aad-pod-identity is installed in the cluster (see ``sandbox.kube.nmi``) the pod's binding decides
(404/403 with NMI's messages); otherwise a pod gets its node's IMDS semantics.
``{node or pod prefix}/metadata/instance?api-version=...`` answers the VM's instance metadata
(``sandbox.kube.vm_metadata``): a pod sees its node's VM, as on AKS.
"""

from __future__ import annotations

import time
from typing import Any

from .httpd import HttpService, Request, Response, Router, router_app
from .kube import ClusterRuntime, nmi, vm_metadata
from .kube.kubelet import PODS
from .kube.nodes import NODES, vmss_of
from .kube.vm_metadata import compact_json as json_response
from .state import World, key

TOKEN_PATH = "/metadata/identity/oauth2/token"
INSTANCE_PATH = "/metadata/instance"
LIFETIME_S = 3600


class ImdsError(Exception):
    def __init__(self, status: int, description: str, error: str = "invalid_request") -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> Response:
        return json_response({"error": self.error, "error_description": self.description}, self.status)


def _nmi_error(status: int, message: str) -> Response:
    return Response(status=status, body=message + "\n", content_type="text/plain; charset=utf-8")


class Imds:
    def __init__(self, world: World) -> None:
        self.world = world

    # --- lookups ---
    def _runtimes(self) -> list[ClusterRuntime]:
        with self.world.lock:
            return [r for r in self.world.clusters.values() if isinstance(r, ClusterRuntime)]

    def _node_vmss(self, node_ref: str) -> str:
        ref = node_ref.strip("/")
        if ref.lower().startswith("subscriptions/"):
            if self.world.get("/" + ref) is None:
                raise ImdsError(404, f"scale set /{ref} not found", "not_found")
            return "/" + ref
        for runtime in self._runtimes():
            node = runtime.store.find(NODES, "", ref)
            if node is not None and (vmss_id := vmss_of(node)):
                return vmss_id
        raise ImdsError(404, f"node {ref} not found", "not_found")

    @staticmethod
    def _validate(req: Request) -> str:
        if (req.header("metadata") or "").lower() != "true":
            raise ImdsError(400, "Required metadata header not specified")
        if not req.q("api-version"):
            raise ImdsError(400, "Required query variable 'api-version' is missing")
        resource = req.q("resource")
        if not resource:
            raise ImdsError(400, "Required audience parameter not specified")
        return resource

    # --- node semantics ---
    def _select(self, vmss_id: str, client_id: str | None, object_id: str | None, res_id: str | None) -> str:
        vmss = self.world.get(vmss_id) or {}
        attached = {key(i): i for i in ((vmss.get("identity") or {}).get("userAssignedIdentities") or {})}
        if not (client_id or object_id or res_id):
            if len(attached) == 1:
                return next(iter(attached.values()))
            if not attached:
                raise ImdsError(400, "Identity not found")
            raise ImdsError(
                400,
                "Multiple user assigned identities exist, please specify the clientId / "
                "resourceId of the identity in the token request",
            )
        for identity_key, identity_id in attached.items():
            principal = self.world.principal_by_resource_id(identity_id)
            if res_id and key(res_id) == identity_key:
                return identity_id
            if principal and client_id and principal.client_id.lower() == client_id.lower():
                return identity_id
            if principal and object_id and principal.object_id.lower() == object_id.lower():
                return identity_id
        raise ImdsError(400, "Identity not found")

    def _token(self, identity_id: str, resource: str) -> dict[str, Any]:
        principal = self.world.principal_by_resource_id(identity_id)
        if principal is None:
            raise ImdsError(400, "Identity not found")
        now = int(time.time())
        token = self.world.signer.mint(
            audience=resource,
            tenant_id=principal.tenant_id,
            object_id=principal.object_id,
            app_id=principal.client_id,
            lifetime_s=LIFETIME_S,
            extra={"xms_mirid": identity_id},
        )
        return {
            "access_token": token,
            "client_id": principal.client_id,
            "expires_in": str(LIFETIME_S),
            "expires_on": str(now + LIFETIME_S),
            "ext_expires_in": str(LIFETIME_S),
            "not_before": str(now),
            "resource": resource,
            "token_type": "Bearer",
        }

    def node_token(self, req: Request) -> Response:
        try:
            resource = self._validate(req)
            vmss_id = self._node_vmss(req.params["node"])
            identity = self._select(
                vmss_id, req.q("client_id"), req.q("object_id"), req.q("msi_res_id") or req.q("mi_res_id")
            )
            return json_response(self._token(identity, resource))
        except ImdsError as exc:
            return exc.response()

    # --- instance metadata ---
    def _node(self, node_name: str) -> dict[str, Any] | None:
        for runtime in self._runtimes():
            node = runtime.store.find(NODES, "", node_name)
            if node is not None:
                return node
        return None

    def _instance(self, req: Request, node_name: str) -> Response:
        refused = vm_metadata.check(req.header("metadata"), req.q("api-version"))
        if refused is not None:
            return refused
        node = self._node(node_name)
        vmss_id = vmss_of(node) if node else None
        vmss = self.world.get(vmss_id) if vmss_id else None
        if node is None or vmss is None:
            return json_response({"error": f"node {node_name} not found"}, 404)
        index = int(node["spec"]["providerID"].rsplit("/", 1)[-1])
        addresses = node.get("status", {}).get("addresses", [])
        ip = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), "")
        document = vm_metadata.instance(vmss, index, node["metadata"]["name"], ip, str(req.q("api-version")))
        return json_response(document)

    def node_instance(self, req: Request) -> Response:
        return self._instance(req, req.params["node"])

    def pod_instance(self, req: Request) -> Response:
        return self._instance(req, req.params["node"])

    # --- pods ---
    def pod_token(self, req: Request) -> Response:
        p = req.params
        try:
            resource = self._validate(req)
            runtime = next((r for r in self._runtimes() if r.guid == p["cluster"].lower()), None)
            if runtime is None:
                raise ImdsError(404, f"cluster {p['cluster']} not found", "not_found")
            pod = runtime.store.find(PODS, p["namespace"], p["pod"])
            if pod is None or pod["spec"].get("nodeName") != p["node"]:
                raise ImdsError(
                    404, f"pod {p['namespace']}/{p['pod']} not found on node {p['node']}", "not_found"
                )
            vmss_id = self._node_vmss(p["node"])
            client_id, object_id = req.q("client_id"), req.q("object_id")
            res_id = req.q("msi_res_id") or req.q("mi_res_id")
            daemonset = nmi.nmi_daemonset(runtime.store)
            if daemonset is None or nmi.is_exempt(runtime.store, pod):
                return json_response(
                    self._token(self._select(vmss_id, client_id, object_id, res_id), resource)
                )
        except ImdsError as exc:
            return exc.response()
        return self._through_nmi(runtime, pod, daemonset, vmss_id, resource, client_id, object_id, res_id)

    def _through_nmi(
        self,
        runtime: ClusterRuntime,
        pod: dict[str, Any],
        daemonset: dict[str, Any],
        vmss_id: str,
        resource: str,
        client_id: str | None,
        object_id: str | None,
        res_id: str | None,
    ) -> Response:
        pod_ref = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        candidates = nmi.pod_identities(runtime.store, pod, nmi.force_namespaced(daemonset))
        if not candidates:
            return _nmi_error(404, f"no AzureAssignedIdentity found for pod:{pod_ref} in assigned state")
        if client_id or object_id or res_id:
            wanted_object = None
            if object_id:
                principal = self.world.principals.get(object_id.lower()) or self.world.principals.get(
                    object_id
                )
                wanted_object = principal.client_id.lower() if principal else object_id.lower()
            candidates = [
                c
                for c in candidates
                if (client_id and c.client_id.lower() == client_id.lower())
                or (res_id and key(c.resource_id) == key(res_id))
                or (wanted_object and c.client_id.lower() == wanted_object)
            ]
            if not candidates:
                requested = client_id or res_id or object_id
                return _nmi_error(
                    403, f"no azure identity found for request clientID {requested} for pod:{pod_ref}"
                )
        chosen = candidates[0]
        try:
            identity = self._select(vmss_id, chosen.client_id, None, chosen.resource_id)
            return json_response(self._token(identity, resource))
        except ImdsError as exc:
            return _nmi_error(
                403,
                f"failed to get service principal token for pod:{pod_ref} with error code "
                f"{exc.status}, error: {exc.description}",
            )


def build(world: World) -> HttpService:
    imds = Imds(world)
    router = Router()
    router.add(
        "GET",
        r"/clusters/(?P<cluster>[^/]+)/nodes/(?P<node>[^/]+)/pods/(?P<namespace>[^/]+)/(?P<pod>[^/]+)"
        + TOKEN_PATH,
        imds.pod_token,
    )
    router.add("GET", r"/nodes/(?P<node>.+?)" + TOKEN_PATH, imds.node_token)
    router.add(
        "GET",
        r"/clusters/(?P<cluster>[^/]+)/nodes/(?P<node>[^/]+)/pods/(?P<namespace>[^/]+)/(?P<pod>[^/]+)"
        + INSTANCE_PATH,
        imds.pod_instance,
    )
    router.add("GET", r"/nodes/(?P<node>[^/]+)" + INSTANCE_PATH, imds.node_instance)
    return HttpService("imds", router_app(router))
