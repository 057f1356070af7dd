"""A Blackhawk Network (BHN) Order Management API simulator: OAuth2 tokens, strict create-order rules with one
error code per rule, idempotency by ``external_id:purchase_order_number``, delayed fulfilment with e-gift URLs,
scheduled faults and an audit of every call. See ``sandbox/README.md``."""

from sandbox.bhn.app import create_app
from sandbox.bhn.settings import Settings

__all__ = ["Settings", "create_app"]
