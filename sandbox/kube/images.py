"""Which containers the sandbox runs as local processes, with what argv, and the programs a pod finds.

There is no container runtime: a container runs when its program exists on this machine.
- an image or command naming python: ``python``/``python3`` becomes this interpreter (the probe, Jobs);
- an explicit ``command``, or a base OS image (alpine, busybox, debian, ubuntu) given ``args`` or ``stdin: true``
  (``kubectl run -i --image=alpine [-- sh -c ...]``): argv is ``command + args`` (a base image has no
  ENTRYPOINT, its CMD is its shell); ``sh``/``bash`` are this machine's, a script under a volume mountPath runs
  from the pod's copy of the volume; other programs come from the pod's PATH;
- a program that is not there: the container fails at start as containerd reports a missing executable
  (terminated, reason ``StartError``, exit code 128) with a message saying what the sandbox cannot run;
- anything else (an application image with only its own entrypoint: NMI, MIC, nginx) has no process and is
  reported Running, since its program lives in an image the sandbox does not have.
The pod's PATH starts with shims (``tools_dir``): ``apk``/``apt-get`` succeed without installing when every
package names a program already here (and fail as apk does otherwise: nothing is installed on the host), ``curl``
sends ``http://169.254.169.254/...`` to the pod's node IMDS (``$AZURE_POD_IDENTITY_AUTHORITY_HOST``), and ``jq``
is this machine's jq or, without one, the ``jq`` Python package (libjq) when installed.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_IMAGES = {"alpine": "sh", "busybox": "sh", "debian": "bash", "ubuntu": "bash"}
SHELLS = {"sh", "ash", "bash", "dash"}
IMDS_ADDRESS = "http://169.254.169.254"


def is_python(word: str) -> bool:
    return re.fullmatch(r"python(3(\.\d+)?)?", os.path.basename(word)) is not None


def image_name(image: str) -> str:
    """``docker.io/library/alpine:3.20`` -> ``alpine``."""
    last = image.rsplit("/", 1)[-1]
    return last.split("@", 1)[0].split(":", 1)[0].lower()


@dataclass(frozen=True)
class Plan:
    argv: list[str]
    error: str | None = None  # set: the container fails at start with this message


def plan(container: dict[str, Any], path: str) -> Plan | None:
    """How a container runs here; None when it has no process (an image entrypoint the sandbox lacks)."""
    image = container.get("image", "")
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    if "python" in image or (command and is_python(command[0])):
        argv = (command or ["python3"]) + args
        return Plan([sys.executable, *argv[1:]] if is_python(argv[0]) else argv)
    base = BASE_IMAGES.get(image_name(image))
    if command:
        argv = command + args
    elif base and (args or container.get("stdin")):
        argv = args or [base]
    else:
        return None
    program = os.path.basename(argv[0])
    mounts = [
        m["mountPath"].rstrip("/") + "/" for m in container.get("volumeMounts", []) if m.get("mountPath")
    ]
    if any(argv[0].startswith(m) for m in mounts):
        return Plan(argv)  # a script from a mounted volume: the kubelet rewrites the path to the pod's copy
    if program in SHELLS:
        found = shutil.which(program, path=path) or shutil.which("sh", path=path)
    else:
        found = shutil.which(argv[0], path=path)
    if found is None:
        return Plan(
            argv,
            f'sandbox: cannot run image "{image}": exec: "{argv[0]}": executable file not found in $PATH '
            "(the sandbox has no container runtime: it runs python, shells and the programs of this machine)",
        )
    return Plan([found, *argv[1:]])


_PACKAGE_SHIM = """#!/bin/sh
# sandbox {tool}: installs nothing; succeeds when every package names a program already on this machine.
missing=""
for arg in "$@"; do
  case "$arg" in -*|add|install|update|upgrade) continue ;; esac
  command -v "$arg" >/dev/null 2>&1 || missing="$missing $arg"
done
if [ -n "$missing" ]; then
  echo "ERROR: unable to select packages:" >&2
  for p in $missing; do echo "  $p (sandbox: no such program on this machine)" >&2; done
  exit 1
fi
echo "OK: sandbox: nothing to install ($*)"
"""

_CURL_SHIM = """#!/bin/sh
# sandbox curl: 169.254.169.254 (IMDS) is this pod's node IMDS, $AZURE_POD_IDENTITY_AUTHORITY_HOST.
for arg in "$@"; do
  shift
  case "$arg" in
    {imds}*) arg="${{AZURE_POD_IDENTITY_AUTHORITY_HOST}}${{arg#{imds}}}" ;;
  esac
  set -- "$@" "$arg"
done
exec {curl} "$@"
"""

_JQ_PY = """#!{python}
# sandbox jq: this machine has no jq binary; the jq Python package (libjq) runs the filter.
import json, sys
import jq
args = sys.argv[1:]
raw = "-r" in args or "--raw-output" in args
rest = [a for a in args if not a.startswith("-")]
program = jq.compile(rest[0] if rest else ".")
text = open(rest[1]).read() if len(rest) > 1 else sys.stdin.read()
for value in program.input_text(text).all():
    print(value if raw and isinstance(value, str) else json.dumps(value, indent=2))
"""


def _jq_module() -> bool:
    try:
        import jq  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


def write_tools(directory: Path) -> Path:
    """The shims a pod's PATH starts with (see the module docstring)."""
    directory.mkdir(parents=True, exist_ok=True)
    host_path = os.environ.get("PATH", "/usr/bin:/bin")
    scripts = {"apk": _PACKAGE_SHIM.format(tool="apk"), "apt-get": _PACKAGE_SHIM.format(tool="apt-get")}
    if curl := shutil.which("curl", path=host_path):
        scripts["curl"] = _CURL_SHIM.format(imds=IMDS_ADDRESS, curl=curl)
    if not shutil.which("jq", path=host_path) and _jq_module():
        scripts["jq"] = _JQ_PY.format(python=sys.executable)
    for name, text in scripts.items():
        target = directory / name
        target.write_text(text)
        target.chmod(0o755)
    return directory
