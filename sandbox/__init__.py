"""Provider simulators for giftq: real HTTP servers that speak each provider's API strictly.

Start one with ``python -m sandbox bamboo --port 8080``; see ``sandbox/README.md``.
"""
