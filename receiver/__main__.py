"""``python -m receiver --host 0.0.0.0 --port 8080`` (also the ``ama-receiver`` command)."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn
from prefect.settings import PREFECT_API_URL

from .app import create_app
from .settings import get_receiver_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ama-receiver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    if not PREFECT_API_URL.value():
        # Without it Prefect's client would start a throwaway local server and the events would go nowhere.
        sys.exit("PREFECT_API_URL is not set: the receiver forwards events to that Prefect API")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # No access log: a notification's URL carries its secret (?sig=...); the routes log each delivery themselves.
    uvicorn.run(
        create_app(get_receiver_settings()),
        host=args.host,
        port=args.port,
        access_log=False,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()
