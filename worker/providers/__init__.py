"""Providers: one client module per provider behind one small interface (`base.Provider`, giftq's own types).

A client (bamboo.py, bhn.py) knows its provider's HTTP API and wire fields, and answers in the types of
`base.py`; it never sees a task, the store or the throttle. Shared by the clients: `http.py` (a session that
says when a request has left) and `oauth.py` (a client-credentials token). `clients.py` builds the client of
each configured credential. Modules here may import `config` (credentials and timeouts), each other, and
`worker.errors`; nothing else of giftq.
"""
