"""The command line: the `giftq` command (`main.py`), the demo, and local process tooling.

`processes.py` and `redis_server.py` start and stop the real processes (a private redis-server, the sandbox,
a worker, the API) that the demo, the tests and the benchmarks stand up. This wing may import everything of
giftq; nothing of giftq imports it but tests and benchmarks.
"""
