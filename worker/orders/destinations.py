"""Where a callback may go: the host is resolved, and every address it gives must be one giftq may call.

Refused unless the operator allows it (GIFTQ_CALLBACK_ALLOW_NETWORKS, GIFTQ_CALLBACK_ALLOW_HOSTS): loopback,
private, link-local (cloud metadata at 169.254.169.254), multicast, reserved, unspecified and shared (100.64/10)
addresses, and IPv6 forms that carry such an IPv4 address (IPv4-mapped and -compatible, 6to4, Teredo, NAT64).
What is checked is what the resolver answers, not the URL's text, so `0x7f000001`, `2130706433`, `0177.0.0.1`,
`127.1` and `localhost` are all seen as 127.0.0.1. The caller connects to the address `check` returns, never
to the name again: nothing can resolve differently between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable

from config.notify import IpNetwork
from config.settings import NotifySettings
from schemas.callback_url import CallbackTarget
from worker.errors import GiftqError

Resolver = Callable[[str, int], list[str]]  # (host, port) -> the addresses to connect to, in order
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class DestinationRefused(GiftqError):
    """Raised when a callback's host is not one giftq may call (a refused address, or no address at all).

    `temporary` is True when the resolver failed for now (it may answer later), rather than refusing the name.
    """

    def __init__(self, message: str, *, temporary: bool = False):
        super().__init__(message)
        self.temporary = temporary


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses getaddrinfo gives for a TCP connection to `host`, in its order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        temporary = error.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None))
        raise DestinationRefused("the callback's host does not resolve", temporary=temporary) from None
    except UnicodeError:
        raise DestinationRefused("the callback's host is not a valid name") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refused_class(address: IpAddress) -> str | None:
    """Why an address is not a public destination ("loopback", "private", ...), or None if it is one."""
    address = _embedded_ipv4(address) or address
    for name, refused in (("unspecified", address.is_unspecified), ("loopback", address.is_loopback),
                          ("link-local", address.is_link_local), ("multicast", address.is_multicast),
                          ("shared", address in _SHARED), ("reserved", address.is_reserved),
                          ("private", address.is_private), ("not global", not address.is_global)):  # fmt: skip
        if refused:
            return name
    return None


def _embedded_ipv4(address: IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, 6to4, Teredo client, NAT64), if any."""
    if address.version == 4:
        return None
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if (address in _IPV4_COMPATIBLE and int(address) > 1) or any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class CallbackDestinations:
    """Decides whether a callback's host may be called, and to which checked address to connect."""

    def __init__(self, *, allow_networks: Iterable[IpNetwork] = (), allow_hosts: Iterable[str] = (),
                 resolve: Resolver = system_resolver):  # fmt: skip
        self._allow_networks = tuple(allow_networks)
        self._allow_hosts = frozenset(allow_hosts)
        self._resolve = resolve

    @classmethod
    def from_settings(cls, settings: NotifySettings, *, resolve: Resolver = system_resolver) -> CallbackDestinations:
        """The destinations the operator allows (GIFTQ_CALLBACK_ALLOW_NETWORKS and _HOSTS), with a resolver."""
        return cls(allow_networks=settings.callback_allow_networks, allow_hosts=settings.callback_allow_hosts,
                   resolve=resolve)  # fmt: skip

    def check(self, target: CallbackTarget) -> str:
        """The address to connect to for `target`; raises DestinationRefused unless every resolved one is allowed.

        Every address, not only the first: a name that answers a public address and a loopback one is refused.
        """
        addresses = self._resolve(target.host, target.port)
        if not addresses:
            raise DestinationRefused("the callback's host does not resolve")
        if target.host.rstrip(".") in self._allow_hosts:
            return addresses[0]
        for text in addresses:
            reason = self._refusal(text)
            if reason:
                raise DestinationRefused(f"the callback's host resolves to an address giftq does not call ({reason}) "
                                         "unless its operator allows it")  # fmt: skip
        return addresses[0]

    def _refusal(self, text: str) -> str | None:
        """Why giftq does not call this address, or None if it may (public, or in an allowed network)."""
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return "malformed"
        forms = {address, _embedded_ipv4(address) or address}
        if any(form in network for form in forms for network in self._allow_networks):
            return None
        return refused_class(address)
