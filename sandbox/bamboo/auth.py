"""HTTP Basic authentication of Bamboo clients: ``Authorization: Basic base64(client_id:secret)``.

A client's access can be changed at run time (``POST /_sandbox/clients/{client_id}/access``): ``revoked``
makes its secret wrong (401, as after a rotation at the provider), ``forbidden`` keeps it valid but not
allowed (403, as from an address off the whitelist); ``granted`` is the seeded state.
"""

import base64
import binascii
import hmac

from sandbox.bamboo.seed import CLIENTS_BY_ID, Client

GRANTED, REVOKED, FORBIDDEN = "granted", "revoked", "forbidden"
ACCESS = (GRANTED, REVOKED, FORBIDDEN)


def authenticate(authorization: str | None) -> Client | None:
    """Return the client whose credentials the header carries, or None if they are missing or wrong."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, separator, secret = decoded.partition(":")
    client = CLIENTS_BY_ID.get(client_id)
    if not separator or client is None:
        return None
    return client if hmac.compare_digest(secret.encode(), client.secret.encode()) else None
