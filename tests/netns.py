"""Worker "hosts" on one machine: network namespaces joined to this one by veth links on a bridge of our own.

This machine (the root namespace) keeps the bridge's address, `Network.gateway`: Redis and the sandboxes listen
there, and each host reaches them only through its own link. `cut` takes a host's link down (its packets are
dropped, nothing is reset: a partition, not a crash) and `reconnect` brings it back. Everything is made on an
address range of the test's own choosing (a /24 of 10.0.0.0/8 no interface uses) and removed on `close`.

Needs root and iproute2; `unavailable()` says why a test must skip.
"""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

IP = "ip"


def unavailable() -> str | None:
    """Why namespaces cannot be made here (a reason to skip), or None if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which(IP) is None:
        return "network namespaces need iproute2's `ip`"
    probe = f"gq-probe-{uuid.uuid4().hex[:6]}"
    made = subprocess.run([IP, "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` fails here: {made.stderr.strip()}"
    subprocess.run([IP, "netns", "del", probe], capture_output=True)
    return None


@dataclass(frozen=True)
class Host:
    """A host: its namespace, its address on the bridge and the root side of its link."""

    name: str
    namespace: str
    address: str
    link: str  # the veth end on the bridge, in the root namespace

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside this host's namespace (`ip netns exec` replaces itself with it: same pid)."""
        return [IP, "netns", "exec", self.namespace, *argv]


class Network:
    """A bridge with the gateway address in this namespace and one namespace per host, each on its own veth."""

    def __init__(self, host_names: Sequence[str]):
        tag = uuid.uuid4().hex[:6]
        self._bridge = f"gqbr{tag}"
        subnet = _unused_subnet()
        self.gateway = str(subnet.network_address + 1)
        self.hosts: dict[str, Host] = {}
        self._namespaces: list[str] = []
        try:
            _ip("link", "add", self._bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/{subnet.prefixlen}", "dev", self._bridge)
            _ip("link", "set", self._bridge, "up")
            for index, name in enumerate(host_names):
                self.hosts[name] = self._add_host(name, f"gq{tag}{index}", str(subnet.network_address + 10 + index),
                                                  subnet.prefixlen)  # fmt: skip
        except BaseException:
            self.close()
            raise

    def _add_host(self, name: str, namespace: str, address: str, prefixlen: int) -> Host:
        link, inside = f"{namespace}h", f"{namespace}n"
        _ip("netns", "add", namespace)
        self._namespaces.append(namespace)
        _ip("link", "add", link, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("link", "set", link, "master", self._bridge, "up")
        _ip("-n", namespace, "addr", "add", f"{address}/{prefixlen}", "dev", inside)
        _ip("-n", namespace, "link", "set", inside, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        return Host(name, namespace, address, link)

    def cut(self, name: str) -> None:
        """Take the host's link down: every packet to or from it is dropped until `reconnect`."""
        _ip("link", "set", self.hosts[name].link, "down")

    def reconnect(self, name: str) -> None:
        _ip("link", "set", self.hosts[name].link, "up")

    def close(self) -> None:
        """Remove the namespaces (their veth pairs go with them) and the bridge."""
        for namespace in self._namespaces:
            subprocess.run([IP, "netns", "del", namespace], capture_output=True)
        subprocess.run([IP, "link", "del", self._bridge], capture_output=True)

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _ip(*args: str) -> None:
    done = subprocess.run([IP, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _unused_subnet() -> ipaddress.IPv4Network:
    """A random /24 in 10.0.0.0/8 that overlaps no address or route this machine has."""
    routes = subprocess.run([IP, "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    addresses = subprocess.run([IP, "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
    taken = [ipaddress.ip_network(word, strict=False) for word in (routes + " " + addresses).split()
             if _looks_like_network(word)]  # fmt: skip
    rng = random.Random()
    for _ in range(100):
        candidate = ipaddress.ip_network(f"10.{rng.randrange(100, 250)}.{rng.randrange(1, 255)}.0/24")
        if not any(candidate.overlaps(network) for network in taken):
            return candidate
    raise RuntimeError("no unused 10.x.y.0/24 found")


def _looks_like_network(word: str) -> bool:
    try:
        ipaddress.ip_network(word, strict=False)
    except ValueError:
        return False
    return "." in word
