"""Searching everything giftq keeps or shows for card codes and PINs: Redis (every type), log files, JSON.

Values are searched as stored and, because Celery messages carry their bodies base64-encoded, in every
base64-looking run decoded too. A PIN (digits) counts only as a whole number, so it is not "found" inside a
timestamp.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import redis

_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{16,}={0,2}")


def redis_blobs(client: redis.Redis) -> Iterator[tuple[str, bytes]]:
    """(key, blob) for every key name and every value in the Redis, whatever its type."""
    for key in client.scan_iter(count=1000):
        name = key.decode(errors="replace")
        yield name, key
        kind = client.type(key).decode()
        if kind == "none":  # expired since the scan listed it (a rate-limit window, say): it holds nothing now
            continue
        if kind == "string":
            yield name, client.get(key) or b""
        elif kind == "hash":
            for field, value in client.hgetall(key).items():
                yield name, field + b"=" + value
        elif kind == "list":
            yield from ((name, item) for item in client.lrange(key, 0, -1))
        elif kind == "set":
            yield from ((name, member) for member in client.smembers(key))
        elif kind == "zset":
            yield from ((name, member) for member, _ in client.zrange(key, 0, -1, withscores=True))
        elif kind == "stream":
            for entry_id, fields in client.xrange(key):
                yield name, entry_id + b"".join(k + b"=" + v for k, v in fields.items())
        else:
            raise AssertionError(f"key {name} has a type the scan does not read: {kind}")


def file_blobs(paths: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    """(file name, content) of each file."""
    for path in paths:
        yield path.name, path.read_bytes()


def hits(blobs: Iterable[tuple[str, bytes]], secrets: set[str]) -> list[tuple[str, str]]:
    """(where, secret) for every secret found in a blob, as stored or base64-decoded."""
    patterns = {secret: _pattern(secret) for secret in secrets}
    found = []
    for where, blob in blobs:
        for text in _with_decoded(blob):
            found += [(where, secret) for secret, pattern in patterns.items() if pattern.search(text)]
    return found


def _pattern(secret: str) -> re.Pattern[bytes]:
    escaped = re.escape(secret.encode())
    return re.compile(rb"(?<![\d.])" + escaped + rb"(?!\d)" if secret.isdigit() else escaped)


def _with_decoded(blob: bytes, depth: int = 2) -> Iterator[bytes]:
    yield blob
    if depth == 0:
        return
    for run in _BASE64_RUN.findall(blob):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded = decode(run + b"=" * (-len(run) % 4))
            except (binascii.Error, ValueError):
                continue
            yield from _with_decoded(decoded, depth - 1)
