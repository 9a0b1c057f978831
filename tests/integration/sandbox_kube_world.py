"""An in-process world with one AKS-like cluster: Kubernetes API + IMDS, without the ARM service.

Tests publish ``cluster.created`` / ``vmss.created`` themselves, as ARM would, so they do not depend on
the ARM emulation. ``chart_repo()`` starts the sandbox's chart repository on demand, so charts come from
wherever the sandbox takes them (``../shared`` or the stand-in chart), never from a fixed path.
"""

from __future__ import annotations

import subprocess
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes.client
import yaml

from sandbox import imds
from sandbox.certs import CertPaths, make_certificates
from sandbox.charts import ChartRepo
from sandbox.httpd import HttpService
from sandbox.kube import ClusterRuntime, KubeApis
from sandbox.profiles import FAST
from sandbox.state import Principal, Subscription, Tenant, World, key

AAD_URL = "https://127.0.0.1:1"  # never called by these tests; shows up in issuer and env values
# kubectl v1.32, put there by `make install` (tools/install_kube_tools.sh)
KUBECTL = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "kubectl"


@dataclass
class KubeWorld:
    world: World
    certs: CertPaths
    kube: KubeApis
    imds_service: HttpService
    tmp: Path
    tenant_id: str
    subscription_id: str
    identities: dict[str, Principal] = field(default_factory=dict)
    pools: dict[str, str] = field(default_factory=dict)  # pool name -> scale set id
    cluster_id: str = ""
    charts: ChartRepo | None = None

    @property
    def cluster(self) -> ClusterRuntime:
        runtime: ClusterRuntime = self.world.clusters[key(self.cluster_id)]
        return runtime

    def identity(self, name: str) -> Principal:
        if name not in self.identities:
            rid = (
                f"/subscriptions/{self.subscription_id}/resourceGroups/mrg/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
            )
            self.identities[name] = self.world.add_principal(
                Principal(
                    object_id=str(uuid.uuid4()),
                    tenant_id=self.tenant_id,
                    kind="ManagedIdentity",
                    client_id=str(uuid.uuid4()),
                    display_name=name,
                    resource_id=rid,
                )
            )
        return self.identities[name]

    def add_cluster(self, name: str = "aks1", *, workload_identity: bool = True) -> str:
        cluster_id = (
            f"/subscriptions/{self.subscription_id}/resourceGroups/mrg/providers/"
            f"Microsoft.ContainerService/managedClusters/{name}"
        )
        self.world.put(
            {
                "id": cluster_id,
                "name": name,
                "type": "Microsoft.ContainerService/managedClusters",
                "properties": {
                    "nodeResourceGroup": f"MC_mrg_{name}_eastus",
                    "oidcIssuerProfile": {"enabled": True, "issuerURL": f"{AAD_URL}/oidc/{uuid.uuid4()}/"},
                    "securityProfile": {"workloadIdentity": {"enabled": workload_identity}},
                },
            }
        )
        self.world.publish("cluster.created", cluster_id=cluster_id)
        self.cluster_id = self.cluster_id or cluster_id
        return cluster_id

    def add_pool(
        self,
        pool: str,
        identities: list[str],
        *,
        count: int = 2,
        mode: str = "User",
        cluster_id: str | None = None,
    ) -> str:
        cluster_id = cluster_id or self.cluster_id
        cluster_name = cluster_id.rsplit("/", 1)[-1]
        vmss_id = (
            f"/subscriptions/{self.subscription_id}/resourceGroups/MC_mrg_{cluster_name}_eastus/providers/"
            f"Microsoft.Compute/virtualMachineScaleSets/aks-{pool}-vmss"
        )
        attached = {
            self.identity(n).resource_id: {
                "principalId": self.identity(n).object_id,
                "clientId": self.identity(n).client_id,
            }
            for n in identities
        }
        self.world.put(
            {
                "id": vmss_id,
                "name": f"aks-{pool}-vmss",
                "location": "eastus",
                "sku": {"name": "Standard_D2s_v3", "capacity": count},
                "identity": {"type": "UserAssigned", "userAssignedIdentities": attached},
                "_sandbox": {
                    "cluster_id": cluster_id,
                    "pool": pool,
                    "aks_identities": [],
                    "instances": count,
                },
            }
        )
        self.world.publish(
            "vmss.created", vmss_id=vmss_id, cluster_id=cluster_id, pool=pool, mode=mode, count=count
        )
        self.pools[pool] = vmss_id
        return vmss_id

    def attach(self, vmss_id: str, name: str) -> None:
        vmss = self.world.get(vmss_id)
        assert vmss is not None
        principal = self.identity(name)
        vmss["identity"]["userAssignedIdentities"][principal.resource_id] = {
            "principalId": principal.object_id,
            "clientId": principal.client_id,
        }

    def api_client(self, token: str | None = None) -> kubernetes.client.ApiClient:
        config = kubernetes.client.Configuration()
        config.host = self.cluster.server_url
        config.ssl_ca_cert = str(self.certs.ca_bundle)
        if token != "":
            config.api_key = {"BearerToken": token or self.cluster.admin_token}
            config.api_key_prefix = {"BearerToken": "Bearer"}
        return kubernetes.client.ApiClient(config)

    def kubeconfig(self) -> Path:
        path = self.tmp / "kubeconfig.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "sandbox",
                    "clusters": [
                        {
                            "name": "sandbox",
                            "cluster": {
                                "server": self.cluster.server_url,
                                "certificate-authority": str(self.certs.ca_bundle),
                            },
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": self.cluster.admin_token}}],
                    "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "admin"}}],
                }
            )
        )
        return path

    def run_kubectl(
        self, *args: str, stdin: str | None = None, timeout_s: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the kubectl ``make install`` put in .tools/bin against the cluster."""
        return subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(self.kubeconfig()), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        """Run kubectl; fails the test on a non-zero exit."""
        done = self.run_kubectl(*args, stdin=stdin)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def chart_repo(self) -> ChartRepo:
        """The chart repository, started as ``sandbox.runtime`` starts it (source: ``chart_source()``)."""
        if self.charts is None:
            self.charts = ChartRepo(self.world, self.tmp).start()
            self.world.urls["charts"] = self.charts.url
        return self.charts

    def chart_package(self, name: str = "aad-pod-identity", version: str = "4.1.18") -> bytes:
        """A chart package as a client gets it: looked up in the repository's index.yaml, then downloaded."""
        repo = self.chart_repo()
        with urllib.request.urlopen(f"{repo.url}/index.yaml", timeout=10) as resp:
            index = yaml.safe_load(resp.read())
        [entry] = [e for e in index["entries"][name] if e["version"] == version]
        with urllib.request.urlopen(entry["urls"][0], timeout=10) as resp:
            package: bytes = resp.read()
        return package

    def stop(self) -> None:
        if self.charts is not None:
            self.charts.stop()
        self.kube.stop()
        self.imds_service.stop()
        self.world.scheduler.stop()


def start_world(tmp: Path) -> KubeWorld:
    world = World(FAST)
    certs = make_certificates(tmp / "tls")
    world.urls.update(state_dir=str(tmp), ca_bundle=str(certs.ca_bundle), aad=AAD_URL)
    service = imds.build(world).start()
    world.urls["imds"] = service.url
    tenant_id, subscription_id = str(uuid.uuid4()), str(uuid.uuid4())
    world.tenants[tenant_id] = Tenant(tenant_id, "customer")
    world.subscriptions[subscription_id] = Subscription(subscription_id, tenant_id, "customer sub")
    kube = KubeApis(world, certs).start()
    return KubeWorld(world, certs, kube, service, tmp, tenant_id, subscription_id)


def wait_for(predicate: Any, timeout_s: float = 20.0, interval_s: float = 0.05) -> Any:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


def nmi_daemonset(args: list[str]) -> dict[str, Any]:
    """The NMI DaemonSet aad-pod-identity's chart installs, as far as the sandbox's NMI emulation reads it (its name,
    its container's args)."""
    return {
        "metadata": {"name": "aad-pod-identity-nmi"},
        "spec": {
            "selector": {"matchLabels": {"app": "nmi"}},
            "template": {
                "metadata": {"labels": {"app": "nmi"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nmi",
                            "image": "mcr.microsoft.com/oss/azure/aad-pod-identity/nmi:v1.8.17",
                            "args": args,
                        }
                    ]
                },
            },
        },
    }
