"""`giftq flower`: Flower over giftq's Celery app, with HTTP basic auth on every path but /healthcheck.

Flower 2.2 asks for its basic auth on its pages and API, but leaves `/metrics` (Prometheus) and unknown paths open
(mher/flower#1129, #1342); task names and worker hosts are what an attacker maps first. So the check is made once,
in front of Flower's routing (`GuardedFlower.find_handler`), for every path and method; only `/healthcheck`, which
answers "OK" and nothing else, stays open for a load balancer's or container's probe. The credentials are given to
Flower in this process, never on a command line another user could read with `ps`.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hmac
import signal

import tornado.web
from celery import Celery
from flower import command as flower_command
from flower.app import Flower
from flower.options import options as flower_options
from flower.urls import settings as flower_url_settings

from config.flower import FlowerSettings

REALM = "giftq flower"
HEALTHCHECK_PATH = "/healthcheck"


class _Unauthorized(tornado.web.RequestHandler):
    """Every request without valid credentials: 401 with a Basic challenge, before Flower sees it."""

    def check_xsrf_cookie(self) -> None:
        """No XSRF check first: a POST without credentials is 401 too, never 403."""

    def prepare(self) -> None:
        self.set_status(401)
        self.set_header("WWW-Authenticate", f'Basic realm="{REALM}"')
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish("authentication required\n")


class GuardedFlower(Flower):
    """Flower whose every path but HEALTHCHECK_PATH needs one of `credentials` ("user:password") by basic auth."""

    def __init__(self, *, credentials: tuple[str, ...], **kwargs: object):
        super().__init__(**kwargs)
        self._credentials = tuple(entry.encode() for entry in credentials)
        self._open_path = "/" + (self.options.url_prefix or "").strip("/") + HEALTHCHECK_PATH
        self._open_path = self._open_path.replace("//", "/")

    def find_handler(self, request, **kwargs):  # noqa: ANN001, ANN201 - tornado's routing interface
        if self._credentials and request.path != self._open_path and not self._authorized(request):
            return self.get_handler_delegate(request, _Unauthorized)
        return super().find_handler(request, **kwargs)

    def _authorized(self, request: tornado.httputil.HTTPServerRequest) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        # Compare with every entry, so the time taken does not say which user name exists.
        return sum(hmac.compare_digest(given, entry) for entry in self._credentials) > 0


def serve_flower(app: Celery, settings: FlowerSettings) -> None:
    """Serve Flower for `app` until SIGTERM or SIGINT, as `celery -A worker flower` would, guarded."""
    flower_command.apply_env_options()  # other FLOWER_* variables (e.g. FLOWER_PURGE_OFFLINE_WORKERS) still apply
    flower_command.apply_options("giftq flower", [f"--address={settings.host}", f"--port={settings.port}"])
    flower_options.basic_auth = list(settings.basic_auth)  # Flower's own check on its pages and API, behind ours
    flower_options.read_only = settings.read_only
    flower_command.extract_settings()
    flower_command.setup_logging()
    flower = GuardedFlower(credentials=settings.basic_auth, capp=app, options=flower_options, **flower_url_settings)
    atexit.register(flower.stop)
    signal.signal(signal.SIGTERM, flower_command.sigterm_handler)
    port = flower.start_http_server()
    flower_command.print_banner(app, "ssl_options" in flower_url_settings, port)
    try:
        flower.start()
    except (KeyboardInterrupt, SystemExit):
        pass
