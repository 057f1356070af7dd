"""Providers: one client module per provider behind one small interface (`base.Provider`, giftq's own types).

A client knows its provider's HTTP API and wire fields, and answers in the types of `base.py`; it never
sees a task, the store or the throttle. Modules here may import `config` (credentials and timeouts), each
other's `base`, and `worker.errors`; nothing else of giftq.
"""
