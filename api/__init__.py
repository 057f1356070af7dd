"""The producers' HTTP API: its own process (`giftq api`, gunicorn), beside the workers.

It owns the Flask app (`app.py`: keys, rate limit, scopes), its error shape (`errors.py`), the gunicorn
server (`server.py`), API keys (`apikeys.py`), how a request body is read (`body.py`), the orders and cards
endpoints (`orders.py`, `cards.py`), page cursors (`cursors.py`), the per-key rate limit (`ratelimit.py`
and its Lua in `lua/`), Swagger UI's own assets (`swagger.py`), provider webhooks (`webhooks.py`), and what the
OpenAPI document says beyond the schemas (`document.py`: the shapes an order takes; `examples.py`). It may
import `config`, `schemas`, the worker's runtime, key names and Lua loader (`worker.keys`, `worker.scripts`)
and its `orders` wing, and the enqueue functions of `tasks/` (an order is enqueued the way a task would);
nothing of giftq imports it but the command line.
"""
