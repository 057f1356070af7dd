"""Flower's settings for `giftq flower`, the operator's window on the workers: where it listens and who may look.

Flower shows every worker, queue and task, and its API can stop workers or send tasks, so giftq's Flower asks for
HTTP basic auth on every path (GIFTQ_FLOWER_BASIC_AUTH) and refuses to start without it, unless the operator says
in so many words that it is open (GIFTQ_FLOWER_UNAUTHENTICATED=true), and then only on a loopback address.
Flower's own auth variables (FLOWER_BASIC_AUTH, ...) are refused: one setting says who may look, not two.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field

from environs import Env, EnvError

from config.settings import SettingsError

MIN_PASSWORD_CHARS = 12  # a shorter Flower password is refused at start
# Flower's own variables that would open it, or say who may look, beside giftq's one setting.
FOREIGN_AUTH_VARIABLES = ("FLOWER_BASIC_AUTH", "FLOWER_AUTH", "FLOWER_AUTH_PROVIDER", "FLOWER_UNAUTHENTICATED_API")
_USER = re.compile(r"^[A-Za-z0-9_.@-]{1,64}\Z")


@dataclass(frozen=True, kw_only=True)
class FlowerSettings:
    """How `giftq flower` serves Flower."""

    host: str  # address to listen on
    port: int
    basic_auth: tuple[str, ...] = field(repr=False)  # "user:password" entries; empty only when unauthenticated
    unauthenticated: bool  # the operator asked for a Flower without auth (loopback only)
    read_only: bool  # Flower's read-only mode: no worker control, no task sent from Flower


def load_flower_settings(*, bind: str | None = None) -> FlowerSettings:
    """Read GIFTQ_FLOWER_* from the process environment; SettingsError when Flower would be open by accident.

    `bind` (host:port, `giftq flower --bind`) replaces GIFTQ_FLOWER_BIND, as a container's command sets its address.
    """
    foreign = [name for name in FOREIGN_AUTH_VARIABLES if os.environ.get(name)]
    if foreign:
        raise SettingsError(
            f"{', '.join(foreign)} is set: giftq's Flower takes its credentials from "
            "GIFTQ_FLOWER_BASIC_AUTH only (or GIFTQ_FLOWER_UNAUTHENTICATED=true on loopback)"
        )
    env = Env(expand_vars=False)
    try:
        with env.prefixed("GIFTQ_FLOWER_"):
            host, port = _bind(bind or env.str("BIND", "127.0.0.1:5555"))
            entries = tuple(entry.strip() for entry in env.list("BASIC_AUTH", []) if entry.strip())
            unauthenticated = env.bool("UNAUTHENTICATED", False)
            read_only = env.bool("READ_ONLY", True)
    except EnvError as error:
        raise SettingsError(str(error)) from None
    for entry in entries:
        _check_entry(entry)
    if entries and unauthenticated:
        raise SettingsError("GIFTQ_FLOWER_BASIC_AUTH and GIFTQ_FLOWER_UNAUTHENTICATED=true are both set: choose one")
    if not entries and not unauthenticated:
        raise SettingsError(
            "GIFTQ_FLOWER_BASIC_AUTH is not set: Flower shows every worker and task; give it "
            "user:password, or set GIFTQ_FLOWER_UNAUTHENTICATED=true for a Flower on loopback only"
        )
    if unauthenticated and not _is_loopback(host):
        raise SettingsError(
            f"GIFTQ_FLOWER_UNAUTHENTICATED=true serves Flower without auth, so only on a loopback "
            f"address, not {host!r}: set GIFTQ_FLOWER_BASIC_AUTH to listen there"
        )
    return FlowerSettings(
        host=host, port=port, basic_auth=entries, unauthenticated=unauthenticated, read_only=read_only
    )


def _bind(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"GIFTQ_FLOWER_BIND (or --bind) is host:port, not {value!r}")
    return host.strip("[]"), int(port)


def _check_entry(entry: str) -> None:
    user, _, password = entry.partition(":")
    if not _USER.match(user) or len(password) < MIN_PASSWORD_CHARS:
        raise SettingsError(
            f"GIFTQ_FLOWER_BASIC_AUTH entries are user:password, the password {MIN_PASSWORD_CHARS} "
            "characters or more (comma-separated for several users)"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
