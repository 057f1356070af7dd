"""Reading a JSON request body the way an order needs it: whole, bounded, exact, unambiguous.

- Bounded: at most `limit` bytes, whether the body has a Content-Length or comes chunked. Werkzeug stops a
  chunked body at the limit and hands the first part on as if it were the whole; a valid order followed by
  padding would then pass. Here the stream is read to one byte past the limit, and more than the limit is 413.
- Exact: numbers with a fraction are `Decimal`s (integers stay ints), so `10.000000000000000000001` reaches
  the two-decimals rule as written instead of as the float 10.0.
- Unambiguous: a key given twice in one object is refused; parsers disagree about which value wins.
- UTF-8 only: a lone UTF-16 surrogate (`"\\ud800"`, or one encoded in the bytes) is refused here, before
  it can reach code that encodes strings (a RequestId derived from it, a Redis write) and fails there.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import IO

from flask import Request

BODY_TOO_LARGE = "BodyTooLarge"
DUPLICATE_KEY = "DuplicateKey"
INVALID_UNICODE = "InvalidUnicode"
NOT_JSON = "InvalidOrder"  # what a body that is not JSON at all has always been answered with
READ_CHUNK_BYTES = 16 * 1024
_SURROGATE = re.compile("[\ud800-\udfff]")  # only a lone one survives decoding: a valid pair becomes one character


class BodyRefused(ValueError):
    """Raised when a request body cannot be taken as JSON; `status` and `reason` are what the API answers."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status = status
        self.reason = reason


def read_json_body(request: Request, *, limit: int) -> object:
    """The request's body parsed as JSON (see the module docstring); raises BodyRefused."""
    return parse_json(read_body(request, limit=limit))


def read_body(request: Request, *, limit: int) -> bytes:
    """The whole body, at most `limit` bytes; BodyRefused (413) if it is longer, chunked or not."""
    if request.content_length is not None:
        if request.content_length > limit:
            raise _too_large(limit)
        return request.get_data(cache=False)
    if "wsgi.input_terminated" not in request.environ:
        return b""  # a server that cannot end a body without a length gives none (werkzeug does the same)
    data = _read_at_most(request.environ["wsgi.input"], limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    return data


def parse_json(data: bytes) -> object:
    """`data` as JSON with Decimal fractions, no duplicate keys and no lone surrogates; raises BodyRefused."""
    try:
        parsed = json.loads(data, parse_float=Decimal, object_pairs_hook=_object_without_duplicates)
    except BodyRefused:
        raise
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError: bytes that are not UTF-8
        raise BodyRefused(400, NOT_JSON, "the body is not JSON") from None
    if _has_lone_surrogate(parsed):
        raise BodyRefused(400, INVALID_UNICODE, "a string holds a lone UTF-16 surrogate, which is not Unicode text")
    return parsed


def _read_at_most(stream: IO[bytes], size: int) -> bytes:
    chunks, total = [], 0
    while total < size:
        chunk = stream.read(min(READ_CHUNK_BYTES, size - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            shown = json.dumps(key[:50])  # escaped and short: the message quotes the caller's own key back
            raise BodyRefused(400, DUPLICATE_KEY, f"the key {shown} is given more than once in one object")
        seen.add(key)
    return dict(pairs)


def _has_lone_surrogate(value: object) -> bool:
    """True if any string in `value` (a key or a value, at any depth) holds a lone surrogate."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _too_large(limit: int) -> BodyRefused:
    return BodyRefused(413, BODY_TOO_LARGE, f"the body is larger than {limit} bytes (GIFTQ_API_MAX_BODY_BYTES)")
