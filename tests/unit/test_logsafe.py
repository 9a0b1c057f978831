from __future__ import annotations

import logging

import pytest

from onboarding.logsafe import install_redaction

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def test_log_records_are_redacted_with_args_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction()
    logger = logging.getLogger("onboarding.test")
    with caplog.at_level(logging.DEBUG):
        logger.debug("token %s", JWT)
        try:
            raise RuntimeError(f"bad bearer {JWT}")
        except RuntimeError:
            logger.exception("failed")
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert JWT not in text
    assert "***" in text
