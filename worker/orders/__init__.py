"""Orders: everything that keeps a producer's order, from intake to the producer's notification.

It owns the order store and its state machine (`store.py`, `states.py`, with `lua/create_order.lua`,
`lua/transition.lua` and `lua/index_by_provider.lua`), intake and validation against the cached catalog
(`intake.py`, `catalog.py`), the card vault and its cipher (`vault.py`, `crypto.py`), and notifications and
signed callbacks (`notifications.py`, `callbacks.py`), with what a producer may ask for (`notify_rules.py`),
where a callback may go (`destinations.py`) and the connection pinned to the checked address under one deadline
(`pinned_http.py`). It may import `config`, `schemas`, giftq's own types in `worker.providers.base`, and the top
of `worker` (errors, keys, the Lua loader); never the Celery app, tasks, the throttle, a provider's client or
HTTP frameworks. What it must start (a task) it is handed as a function.
"""
