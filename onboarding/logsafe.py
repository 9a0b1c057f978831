"""Keeps tokens, client secrets and kubeconfig credentials out of every log record, wherever it is shipped
(console, Prefect's API log handler): each record's message and traceback are redacted when it is created."""

from __future__ import annotations

import logging
import traceback

from .redact import redact

_installed = False


def _redacting_factory(base: logging._LogRecordFactory) -> logging._LogRecordFactory:  # type: ignore[name-defined]
    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:
            return record
        record.msg, record.args = redact(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
        return record

    return factory


def install_redaction() -> None:
    """Idempotent: called when flows are imported, so every worker process redacts before logging."""
    global _installed
    if not _installed:
        logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
        _installed = True
