"""Runs the real Azure CLI (``.tools/bin/az``, installed by ``make install``) against the sandbox.

Each ``AzCli`` has its own ``AZURE_CONFIG_DIR`` (profile, MSAL token cache, cloud registrations), so nothing
is read from or written to the user's ``~/.azure`` and two instances never share a login. The environment is
built from scratch: no ``REQUESTS_CA_BUNDLE`` and no verification switch. The sandbox's CA is trusted the
way the CLI trusts a CA (a TLS-inspecting proxy's, in Microsoft's troubleshooting guide): appended to the
bundle its ``requests`` reads, the CLI venv's ``certifi/cacert.pem``.
"""

from __future__ import annotations

import fcntl
import json
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
AZ = REPO / ".tools" / "bin" / "az"
AZ_PYTHON = REPO / ".tools" / "az" / "bin" / "python"
CLOUD_NAME = "AzureSandbox"


def az_ca_bundle() -> Path:
    """The CA bundle the CLI's ``requests`` (and so MSAL and the SDK pipeline) verifies servers with."""
    out = subprocess.run(
        [str(AZ_PYTHON), "-Ic", "import certifi; print(certifi.where())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def trust_ca(ca_pem: Path) -> None:
    """Append ``ca_pem`` to the CLI's CA bundle once (under a file lock: parallel sessions append too).

    The sandbox makes a new CA at each start; ``tools/install_az.sh`` reinstalls the venv (and its pristine
    bundle) whenever the lock file changes."""
    bundle = az_ca_bundle()
    pem = ca_pem.read_text().strip()
    with open(bundle, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if pem not in handle.read():
            handle.write(f"\n# AMA sandbox test CA ({ca_pem})\n{pem}\n")


class AzError(AssertionError):
    """An ``az`` command that failed: its command line, exit status and stderr."""


@dataclass
class AzCli:
    config_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": f"{AZ.parent}:/usr/bin:/bin",
            "HOME": str(self.config_dir),
            "AZURE_CONFIG_DIR": str(self.config_dir),
            "AZURE_CORE_COLLECT_TELEMETRY": "false",
            "AZURE_CORE_NO_COLOR": "true",
            "AZURE_CORE_SURVEY_MESSAGE": "false",
            "LANG": "C.UTF-8",
            **self.env,
        }

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``az <args>``; raises ``AzError`` (stderr included) when ``check`` and the exit status is not 0.
        The command line is logged without secrets (``--password``/``-p`` values and ``--body`` are masked)."""
        self.log.append(" ".join(_masked(args)))
        proc = subprocess.run(
            [str(AZ), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise AzError(f"az {' '.join(_masked(args))} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        out = self.run(*args, "--output", "json", env=env).stdout
        return json.loads(out) if out.strip() else None

    def tsv(self, *args: str, env: dict[str, str] | None = None) -> str:
        return self.run(*args, "--output", "tsv", env=env).stdout.strip()

    def sign_in_as_publisher(self, box_env: dict[str, str], subscription: str) -> None:
        """The sandbox cloud (``box_env``: the sandbox's ``sandbox.env``), the publisher's service principal logged
        in, ``subscription`` the current one."""
        self.use_sandbox_cloud(Path(box_env["SANDBOX_AZURE_CLOUD_CONFIG"]))
        self.run(
            "login",
            "--service-principal",
            "--username",
            box_env["AZURE_CLIENT_ID"],
            "--password",
            box_env["AZURE_CLIENT_SECRET"],
            "--tenant",
            box_env["AZURE_TENANT_ID"],
        )
        self.run("account", "set", "--subscription", subscription)

    def use_sandbox_cloud(self, cloud_config: Path) -> None:
        """Register the sandbox as a cloud from its ``azure-cloud.json`` and make it the active cloud, and turn
        off MSAL's instance discovery (it would ask login.microsoftonline.com about the sandbox's authority;
        the CLI's documented setting for private clouds such as Azure Stack)."""
        self.run(
            "cloud",
            "register",
            "--name",
            CLOUD_NAME,
            "--cloud-config",
            f"@{cloud_config}",
            "--skip-endpoint-discovery",
        )
        self.run("cloud", "set", "--name", CLOUD_NAME)
        self.run("config", "set", "core.instance_discovery=false")


def _masked(args: tuple[str, ...]) -> list[str]:
    masked: list[str] = []
    hide = False
    for arg in args:
        masked.append("***" if hide else shlex.quote(arg))
        hide = arg in ("--password", "-p", "--client-secret")
    return masked
