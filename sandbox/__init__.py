"""Provider simulators for giftq: real HTTP servers that speak each provider's API strictly.

Start one with ``python -m sandbox bamboo --port 8080`` or ``python -m sandbox bhn --port 8081``; see
``sandbox/README.md``.
"""
