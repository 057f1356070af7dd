"""The audited call: one record per provider call, kept by each sandbox for ``GET /_sandbox/calls``."""

import ipaddress
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class CallRecord:
    """One provider call: who, what and when it arrived, and what (if anything) was answered."""

    seq: int
    at: float
    client: str | None
    method: str
    path: str
    endpoint: str
    request_id: str | None = None
    products: list[dict[str, Any]] | None = None
    status: int | None = None
    reason: str | None = None
    peer: str | None = None  # the caller's IP address: which host made the call

    def as_json(self) -> dict[str, Any]:
        """Return the call as ``GET /_sandbox/calls`` lists it."""
        return asdict(self)

    def product_ids(self) -> set[int]:
        """Return the distinct integer ProductIds the call named (Bamboo's shape)."""
        entries = self.products or []
        return {entry.get("ProductId") for entry in entries if type(entry.get("ProductId")) is int}


def is_loopback(address: str | None) -> bool:
    """Tell whether an IP address is a loopback address (IPv4 or IPv6): admin endpoints answer only those."""
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False
