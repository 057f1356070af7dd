"""The producers' HTTP API: its own process (`giftq api`, gunicorn), beside the workers.

It owns the Flask app and its error shape (`app.py`), the gunicorn server (`server.py`), API keys
(`apikeys.py`), the cards endpoint (`cards.py`) and provider webhooks (`webhooks.py`). It may import
`config`, `schemas`, the worker's runtime and its `orders` wing, and the enqueue functions of `tasks/`
(an order is enqueued the way a task would); nothing of giftq imports it but the command line.
"""
