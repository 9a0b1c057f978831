#!/usr/bin/env bash
# Installs the Azure CLI (PyPI azure-cli, pinned with every dependency by tools/az-requirements.lock) in its own venv
# .tools/az, so no test depends on a host az and the CLI's ~150 packages never mix with the product's .venv.
# .tools/bin/az runs it; .tools/az/.installed is make's stamp (a second make installs nothing).
set -euo pipefail
venv=.tools/az
lock=tools/az-requirements.lock
rm -rf "$venv"
mkdir -p .tools/bin
.venv/bin/uv venv -q --python "$(.venv/bin/python -c 'import sys; print(sys.executable)')" "$venv"
.venv/bin/uv pip install -q --python "$venv/bin/python" -r "$lock"
cat > .tools/bin/az <<'SH'
#!/usr/bin/env bash
# The Azure CLI from .tools/az (tools/install_az.sh).
here=$(dirname "$(readlink -f "$0")")
exec "$here/../az/bin/python" -Im azure.cli "$@"
SH
chmod 755 .tools/bin/az
check=$(mktemp -d); trap 'rm -rf "$check"' EXIT
AZURE_CONFIG_DIR="$check" AZURE_CORE_COLLECT_TELEMETRY=false .tools/bin/az version --output tsv --query '"azure-cli"'
touch "$venv/.installed"
