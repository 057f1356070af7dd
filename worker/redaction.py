"""A logging filter that masks anything shaped like a card field, wherever a log line comes from."""

from __future__ import annotations

import logging
import re

_CARD_FIELD = re.compile(
    r"""(?P<key>["']?(?:cardCode|card_code|code|pin|PIN|Pin|secretKey|client_secret|password)["']?\s*[:=]\s*)"""
    r"""(?P<quote>["']?)(?P<value>[^"',}\s]+)""",
)


def redact(text: str) -> str:
    """`text` with the value of every card-like field replaced by `***`."""
    return _CARD_FIELD.sub(lambda m: f"{m.group('key')}{m.group('quote')}***", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with `redact`, after formatting its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install_redaction() -> None:
    """Attach the filter to every handler of the root logger (Celery's included), once."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
