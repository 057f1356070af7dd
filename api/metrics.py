"""`GET /metrics`: giftq's Prometheus metrics (worker/metrics.py), for the operator's Prometheus only.

It takes `Authorization: Bearer <GIFTQ_METRICS_TOKEN>`, never a producer's API key; without a token configured it
answers 404, as if it were not there. With GIFTQ_METRICS_DIR, one scrape shows the sum of every gunicorn worker.
"""

from __future__ import annotations

import hmac

from flask import Response, request
from flask_smorest import abort

from worker import metrics
from worker.runtime import Runtime

METRICS_PATH = "/metrics"
BEARER = "Bearer "


def serve_metrics(rt: Runtime) -> Response:
    """Every metric, and the gauges read from Redis now, to a caller with the metrics token (401 without)."""
    token = rt.settings.metrics.token
    if not token:
        abort(404, message="no metrics here: GIFTQ_METRICS_TOKEN is not set")
    header = request.headers.get("Authorization", "")
    given = header[len(BEARER) :] if header.startswith(BEARER) else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        abort(401, message="give the metrics token: Authorization: Bearer <GIFTQ_METRICS_TOKEN>")
    return Response(metrics.text(metrics.registry(rt.metrics_collector())), content_type=metrics.CONTENT_TYPE)
