"""A customer's workload for the continuity test: reads the customer's storage every ``READER_PERIOD_S`` seconds,
for ever, and prints one JSON line per read: when, whether it worked and through which identity path.

It asks as an SDK's default credential chain does: the workload identity token file when the pod has one
(``AZURE_FEDERATED_TOKEN_FILE``, injected by the webhook), else (or when that fails) IMDS, which aad-pod-identity's
NMI answers. The reads themselves are the probe's (``probe.py``, mounted beside this file)."""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import probe


def read_once(env: dict[str, str]) -> dict[str, object]:
    attempts = []
    if env.get("AZURE_FEDERATED_TOKEN_FILE"):
        attempts.append(("workload-identity", env))
    attempts.append(("pod-identity", {k: v for k, v in env.items() if k != "AZURE_FEDERATED_TOKEN_FILE"}))
    failures = []
    for path, attempt_env in attempts:
        result = probe.run(attempt_env)
        if result["ok"]:
            return {"ok": True, "path": path, "failed": failures}
        failures.append(f"{path}: {result['stage']} {result['status']}")
    return {"ok": False, "path": None, "failed": failures}


def main() -> None:
    period = float(os.environ.get("READER_PERIOD_S", "0.5"))
    pod = os.environ.get("HOSTNAME", "")
    while True:
        line = {"t": round(time.time(), 3), "pod": pod, **read_once(dict(os.environ))}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        time.sleep(period)


if __name__ == "__main__":
    main()
