"""Credentials never printed: the `user:password@` of a URL is cut from labels, errors and log
lines (an upstream server's URL may carry them; aiohttp sends them as Basic auth)."""
from __future__ import annotations

import logging
import re

# scheme://userinfo@ — userinfo runs to the last @ before the path (a password may hold an @).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s\"']*@")


def redact(text: str) -> str:
    """`text` with every URL's `user:password@` replaced by `***@`."""
    return _USERINFO.sub(r"\1***@", text) if "@" in text else text


def url_label(url: str) -> str:
    """A URL as it may be shown: no credentials."""
    return _USERINFO.sub(r"\1", url)


class RedactingFilter(logging.Filter):
    """On a handler: the formatted message and exception text are redacted before output."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Adds the filter to every handler of `logger` (the root logger by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
