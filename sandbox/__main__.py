"""``python -m sandbox up --state-dir DIR [--profile fast|realistic] [--time-scale X]
[--marketplace-notification-uri URI]``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .profiles import DEFAULT_REALISTIC_SCALE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Local stand-in for Azure (ARM, Entra ID tokens, IMDS), AKS (a Kubernetes API per cluster), "
        "ADLS Gen2 storage (Azurite) and a Helm chart repository. Binds 127.0.0.1 only.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up", help="start every service, write DIR/sandbox.env, print 'sandbox ready', run until SIGTERM"
    )
    up.add_argument(
        "--state-dir", required=True, type=Path, help="where certificates, logs and sandbox.env go"
    )
    up.add_argument(
        "--profile",
        choices=["fast", "realistic"],
        default="fast",
        help="fast: sub-second delays for tests; realistic: Azure's delays multiplied by --time-scale",
    )
    up.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help=f"multiplier for realistic delays (default {DEFAULT_REALISTIC_SCALE})",
    )
    up.add_argument(
        "--marketplace-notification-uri",
        default=os.environ.get("SANDBOX_MARKETPLACE_NOTIFICATION_URI"),
        help="the notification endpoint of the sandbox's Marketplace plan (as set in Partner Center); "
        "default: $SANDBOX_MARKETPLACE_NOTIFICATION_URI",
    )
    up.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from .runtime import Sandbox

    sandbox = Sandbox(args.state_dir, profile=args.profile, time_scale=args.time_scale).start()
    if args.marketplace_notification_uri:
        from .admin import DEFAULT_PLAN
        from .arm.notifications import for_world

        for_world(sandbox.world).set_plan_endpoint(
            DEFAULT_PLAN["publisher"],
            DEFAULT_PLAN["product"],
            DEFAULT_PLAN["name"],
            args.marketplace_notification_uri,
        )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(
        f"sandbox ready in {sandbox.started_in_s:.1f} s: env at {args.state_dir / 'sandbox.env'} "
        f"(ARM {sandbox.world.urls['arm']}, admin {sandbox.world.urls['admin']})",
        flush=True,
    )
    stop.wait()
    sandbox.stop()
    print("sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
