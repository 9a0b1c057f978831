"""Starts and stops every sandbox service and writes ``sandbox.env``."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from . import aad, admin, arm, graph, imds, seed
from .certs import make_certificates
from .charts import ChartRepo
from .httpd import HttpService
from .kube import KubeApis
from .profiles import timing_for
from .state import World
from .storage import StorageStack

log = logging.getLogger("sandbox")


class Sandbox:
    def __init__(self, state_dir: Path, *, profile: str = "fast", time_scale: float | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.timing = timing_for(profile, time_scale)
        self.world = World(self.timing)
        self.services: dict[str, HttpService] = {}
        self.kube: KubeApis | None = None
        self.storage: StorageStack | None = None
        self.charts: ChartRepo | None = None
        self.started_in_s = 0.0

    def start(self) -> Sandbox:
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        certs = make_certificates(self.state_dir / "tls")
        self.certs = certs
        world = self.world
        world.urls["state_dir"] = str(self.state_dir)
        world.urls["ca_bundle"] = str(certs.ca_bundle)
        self.services["aad"] = aad.build(world, certs).start()
        world.urls["aad"] = self.services["aad"].url
        self.services["graph"] = graph.build(world, certs).start()
        world.urls["graph"] = self.services["graph"].url
        self.services["imds"] = imds.build(world).start()
        world.urls["imds"] = self.services["imds"].url
        self.storage = StorageStack(world, certs, self.state_dir).start()
        world.urls["storage"] = self.storage.url
        self.charts = ChartRepo(world, self.state_dir).start()
        world.urls["charts"] = self.charts.url
        self.kube = KubeApis(world, certs).start()
        self.services["arm"] = arm.build(world, certs).start()
        world.urls["arm"] = self.services["arm"].url
        self.services["admin"] = admin.build(world).start()
        world.urls["admin"] = self.services["admin"].url
        seed.seed_world(world)
        self.write_cloud_config()
        self.write_env()
        self.started_in_s = time.monotonic() - started
        return self

    def env(self) -> dict[str, str]:
        world = self.world
        publisher = world.publisher
        assert publisher is not None and publisher.secret is not None
        ca = str(self.certs.ca_bundle)
        return {
            "SANDBOX_PROFILE": self.timing.name,
            "SANDBOX_ARM_URL": world.urls["arm"],
            "SANDBOX_ADMIN_URL": world.urls["admin"],
            "SANDBOX_AAD_URL": world.urls["aad"],
            "SANDBOX_IMDS_URL": world.urls["imds"],
            "SANDBOX_STORAGE_URL": world.urls["storage"],
            "SANDBOX_CA_BUNDLE": ca,
            "SANDBOX_CHART_REPO_URL": world.urls["charts"],
            "SANDBOX_STATE_DIR": str(self.state_dir),
            "SANDBOX_GRAPH_URL": world.urls["graph"],
            "SANDBOX_AZURE_CLOUD_CONFIG": str(self.state_dir / "azure-cloud.json"),
            "REQUESTS_CA_BUNDLE": ca,
            "SSL_CERT_FILE": ca,
            "AZURE_AUTHORITY_HOST": world.urls["aad"],
            "AZURE_TENANT_ID": publisher.tenant_id,
            "AZURE_CLIENT_ID": publisher.client_id,
            "AZURE_CLIENT_SECRET": publisher.secret,
            "AZURE_SUBSCRIPTION_ID": seed.PUBLISHER_SUBSCRIPTION_ID,
            # The product's own settings (onboarding.settings, prefix ONBOARDING_).
            "ONBOARDING_ARM_ENDPOINT": world.urls["arm"],
            "ONBOARDING_AUTHORITY_HOST": world.urls["aad"],
            "ONBOARDING_CA_BUNDLE": ca,
            "ONBOARDING_DEFAULT_CHART_REPOSITORY": world.urls["charts"],
            "ONBOARDING_APPLICATION_DEFINITION_ID": seed.APPLICATION_DEFINITION_ID,
            # Whom `python -m onboarding publish` authorizes on the definition: the publisher principal.
            "ONBOARDING_PUBLISHER_PRINCIPAL_ID": publisher.object_id,
        }

    def write_cloud_config(self) -> Path:
        """The sandbox as a cloud for ``az cloud register --cloud-config @FILE --skip-endpoint-discovery`` (the
        endpoints Azure's ``/metadata/endpoints`` document gives az for a cloud; token audiences as Azure's)."""
        urls = self.world.urls
        config = {
            "endpoints": {
                "resourceManager": urls["arm"] + "/",
                "activeDirectory": urls["aad"],
                "activeDirectoryResourceId": "https://management.core.windows.net/",
                "management": "https://management.core.windows.net/",
                "microsoftGraphResourceId": urls["graph"] + "/",
            }
        }
        path = self.state_dir / "azure-cloud.json"
        path.write_text(json.dumps(config, indent=2) + "\n")
        return path

    def write_env(self) -> Path:
        path = self.state_dir / "sandbox.env"
        lines = [f"{k}={v}" for k, v in self.env().items()]
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.chmod(tmp, 0o600)
        tmp.replace(path)
        return path

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()
        if self.kube:
            self.kube.stop()
        if self.storage:
            self.storage.stop()
        if self.charts:
            self.charts.stop()
        self.world.scheduler.stop()
