"""What every provider sandbox shares: the HTTP server that fails like a network, the fault schedule, the call
record and the admin guard. Each provider's rules stay in its own package (``sandbox/bamboo``, ``sandbox/bhn``).

Imports nothing of a provider package.
"""
