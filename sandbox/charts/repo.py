"""The chart repository: plain HTTP on 127.0.0.1 serving ``index.yaml`` and the chart packages."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..httpd import HttpService, Request, Response, json_response
from ..state import World
from .source import build_repository, chart_source, find_helm

log = logging.getLogger("sandbox.charts")

_FILE = re.compile(r"^/([A-Za-z0-9][A-Za-z0-9._-]*\.(?:tgz|yaml|prov))$")
_TYPES = {".tgz": "application/gzip", ".yaml": "application/x-yaml", ".prov": "text/plain"}


class ChartRepo:
    """``source`` is ``shared`` or ``standin`` (default: ``chart_source()``, i.e. ``SANDBOX_CHART_SOURCE`` or auto)."""

    def __init__(self, world: World, state_dir: Path, *, source: str | None = None) -> None:
        self.world = world
        self.directory = Path(state_dir) / "charts"
        self.source = source or chart_source()
        self.helm = find_helm()  # None: package and index without helm
        self.packages: list[Path] = []
        self._service = HttpService("charts", self._serve)

    @property
    def url(self) -> str:
        return self._service.url

    def start(self) -> ChartRepo:
        self.packages = build_repository(self.directory, self.url, source=self.source, helm=self.helm)
        log.info("chart repository %s serves %s (%s)", self.url, [p.name for p in self.packages], self.source)
        self._service.start()
        return self

    def stop(self) -> None:
        self._service.stop()

    def _serve(self, request: Request) -> Response:
        match = _FILE.match(request.path)
        path = self.directory / match.group(1) if match else None
        if request.method not in ("GET", "HEAD") or path is None or not path.is_file():
            return json_response(
                {"error": {"code": "NotFound", "message": f"no chart file at {request.path}"}}, 404
            )
        return Response(body=path.read_bytes(), content_type=_TYPES[path.suffix])
