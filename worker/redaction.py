"""Keeping card data and secrets out of what giftq shows: log lines, tracebacks, and task reprs (Flower, logs).

Logs: every record a giftq process makes (any logger: giftq's, Celery's, gunicorn's, Flower's) has the value of
anything shaped like a card field or a secret masked, in its message and in its traceback. It is installed as
the process's log record factory rather than as a filter on some handlers, so handlers added later (gunicorn's,
Celery's) and records from every library are covered alike.

Tasks: `giftq.submit_order` carries the producer's whole order, sent by the producer's own Celery, which puts
a repr of it in the message. The worker shows Flower (task events) and its logs a repr of the order's identity
only, through the task `Request` class here; tasks giftq sends itself carry RequestIds and set
`argsrepr`/`kwargsrepr` where they are sent.
"""

from __future__ import annotations

import functools
import logging
import re

from celery.worker.request import Request

from config.settings import INTAKE_QUEUE_PREFIX

MASK = "***"
_SECRET_KEYS = (
    r"cardCode|card_code|cardNumber|card_number|code|pin|PIN|Pin|cards|secretKey|secret_key|secret|client_secret"
    r"|password|passwd|token|api_key|apikey"
)
_CARD_FIELD = re.compile(
    rf"""(?P<key>["']?\b(?:{_SECRET_KEYS})\b["']?\s*[:=]\s*)(?P<quote>["']?)(?P<value>[^"',}}\]\s]+)""",
)
_PATTERNS = (
    re.compile(r"gAAAAA[A-Za-z0-9_\-=]{20,}"),  # a Fernet token (encrypted cards): not for logs either
    re.compile(r"\bgq_[A-Za-z0-9_\-]{16,}"),  # a giftq API key
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/\-]+=*"),  # an Authorization header's credential
    re.compile(r"(?i)(?<=basic )[A-Za-z0-9+/]{8,}=*"),
)
# What every text a pattern above changes holds: one of the secret keys (as written: the field pattern minds their
# case), less those that hold a shorter one; a token's or key's own start; or an Authorization scheme, in any case
# the patterns' own case-insensitive matching allows (which takes "ſ" for "s", so no lowercased text would do).
_KEYS = set(_SECRET_KEYS.split("|"))
_CLUES = (*sorted(key for key in _KEYS if not any(other != key and other in key for other in _KEYS)), "gAAAAA", "gq_")
_CASELESS_CLUE = re.compile(r"(?i)(?:bearer|basic) ")
IDENTITY_FIELDS = ("RequestId", "IdempotencyKey")  # what an order shows of itself in a task repr
SAFE_KWARGS = ("producer", "attempt", "trigger")  # task keyword arguments that are never secret


def redact(text: str) -> str:
    """`text` with the value of every card-like or secret field, token and key replaced by `***`.

    A text with none of the clues is returned as it is, without running the patterns: most log lines (a task
    received, a task succeeded) have none, and each is redacted twice (its message, then its line).
    """
    if not any(clue in text for clue in _CLUES) and not _CASELESS_CLUE.search(text):
        return text
    text = _CARD_FIELD.sub(lambda m: f"{m.group('key')}{m.group('quote')}{MASK}", text)
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return text


class RedactedLogRecord(logging.LogRecord):
    """A log record whose message, traceback and stack text are redacted when they are formatted."""

    def getMessage(self) -> str:  # noqa: N802 - logging's name
        return redact(super().getMessage())

    @property
    def exc_text(self) -> str | None:
        return self._exc_text

    @exc_text.setter
    def exc_text(self, value: str | None) -> None:
        self._exc_text = redact(value) if value else value

    @property
    def stack_info(self) -> str | None:
        return self._stack_info

    @stack_info.setter
    def stack_info(self, value: str | None) -> None:
        self._stack_info = redact(value) if value else value


class RedactingFilter(logging.Filter):
    """For handlers of processes that do not call `install_redaction`: rewrites each record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install_redaction() -> None:
    """Make every log record of this process (and of the processes it forks) a RedactedLogRecord; idempotent."""
    if logging.getLogRecordFactory() is not RedactedLogRecord:
        logging.setLogRecordFactory(RedactedLogRecord)


def task_argsrepr(args: object) -> str:
    """A repr of task arguments that shows RequestIds (strings) and orders by their identity only."""
    if not isinstance(args, list | tuple):
        return MASK
    shown = []
    for arg in args:
        if isinstance(arg, dict):
            shown.append({key: arg[key] for key in IDENTITY_FIELDS if isinstance(arg.get(key), str)})
        elif isinstance(arg, str | int | float | bool) or arg is None:
            shown.append(arg)
        else:
            shown.append(MASK)
    return repr(shown)


def task_kwargsrepr(kwargs: object) -> str:
    """A repr of task keyword arguments that shows the known harmless ones and masks the rest."""
    if not isinstance(kwargs, dict):
        return MASK
    return repr({key: value if key in SAFE_KWARGS else MASK for key, value in kwargs.items()})


class RedactedRequest(Request):
    """The worker's view of a task message, showing Flower and the logs only `task_argsrepr` of its arguments.

    Celery fills argsrepr/kwargsrepr from the message, which the producer's Celery wrote (a repr of the whole
    order); the worker sends them in its `task-received` event (Flower) and logs them on failure. Nor does a
    message decide what else the worker does: callbacks, errbacks, chains and chords it carries are dropped
    (giftq's worker would publish them with its own broker user, to any queue), and so are its time limits
    and, on a producer's intake queue, its ETA. The pool process drops them again (`worker.delivery`).
    """

    def __init__(self, *args: object, **kwargs: object):
        super().__init__(*args, **kwargs)
        self._argsrepr = task_argsrepr(self.args)
        self._kwargsrepr = task_kwargsrepr(self.kwargs)
        self._request_dict["argsrepr"], self._request_dict["kwargsrepr"] = self._argsrepr, self._kwargsrepr
        _, _, embed = self._payload
        drop_canvas(embed if isinstance(embed, dict) else {})
        self.time_limits = (None, None)
        if str((self.delivery_info or {}).get("routing_key") or "").startswith(INTAKE_QUEUE_PREFIX):
            self._eta = None

    @property
    def tzlocal(self) -> object:
        """The app's `timezone` setting, read once per process: Celery reads it for every message with an ETA
        (a slot's placing task, each poll) through the layers of its configuration, 5% of a consumer's CPU."""
        return _timezone_setting(self._app)


@functools.cache
def _timezone_setting(app: object) -> object:
    return app.conf.timezone


CANVAS_FIELDS = ("callbacks", "errbacks", "chain", "chord")


def drop_canvas(request: object) -> list[str]:
    """Remove what would make the worker send further tasks from a message's request; return what was there."""
    present = [name for name in CANVAS_FIELDS if _get(request, name)]
    for name in CANVAS_FIELDS:
        if isinstance(request, dict):
            request.pop(name, None)
        elif hasattr(request, name):
            setattr(request, name, None)
    return present


def _get(request: object, name: str) -> object:
    return request.get(name) if isinstance(request, dict) else getattr(request, name, None)
