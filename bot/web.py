"""Serve the patient page and the nurse console on 127.0.0.1 (``python -m bot.web``).

A deliberately small static server (the standard library's, in its own child
process of ``python -m bot run``): the pages and their scripts from ``web/``,
the chat widget bundle installed from npm at setup time (no CDN at run time),
and ``/config.json`` telling the page where the socket.io server is. It serves
a fixed list of files, never a directory, and it knows no secret: the Rasa API
token is not in its environment.

Every answer carries a Content-Security-Policy that lets the page load only
its own files and talk only to the Rasa socket.io server, so nothing leaves
the machine (not even the web font the widget's stylesheet asks for).
"""

from __future__ import annotations

import json
import logging
import os
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Optional, Tuple

import click

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
HOST = "127.0.0.1"
DEFAULT_REPLY_TIMEOUT = 30.0
WIDGET_BUNDLE = WEB / "node_modules" / "rasa-webchat" / "lib" / "index.js"
REACT_BUNDLE = WEB / "node_modules" / "react" / "umd" / "react.production.min.js"

logger = logging.getLogger(__name__)

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}


def routes() -> Dict[str, Path]:
    """URL path -> file. Everything the pages may load, and nothing else."""
    table = {
        "/": WEB / "index.html",
        "/nurse": WEB / "nurse.html",
        "/vendor/webchat.js": WIDGET_BUNDLE,
        "/vendor/react.js": REACT_BUNDLE,
    }
    for path in sorted((WEB / "static").glob("*")):
        if path.is_file() and path.suffix in TYPES:
            table[f"/static/{path.name}"] = path
    return table


def reply_timeout() -> float:
    """Seconds the page waits for a reply before offering a retry (TRIALBOT_REPLY_TIMEOUT, default 30)."""
    try:
        return max(1.0, float(os.environ.get("TRIALBOT_REPLY_TIMEOUT", DEFAULT_REPLY_TIMEOUT)))
    except ValueError:
        return DEFAULT_REPLY_TIMEOUT


def page_config(rasa_port: int) -> bytes:
    """What the page needs to know: where socket.io is and how long to wait. Never a token."""
    return json.dumps(
        {"socketUrl": f"http://{HOST}:{rasa_port}", "socketPath": "/socket.io/", "replyTimeoutSeconds": reply_timeout()}
    ).encode()


def security_headers(rasa_port: int) -> Dict[str, str]:
    rasa = f"{HOST}:{rasa_port}"
    # The widget injects its stylesheet with <style> tags and sets inline styles: 'unsafe-inline' for styles only.
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"font-src 'self' data:; connect-src 'self' http://{rasa} ws://{rasa}; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }


class PageHandler(BaseHTTPRequestHandler):
    """GET/HEAD only; a fixed table of files; no directory listing, no path from the URL reaches the disk."""

    server_version = "trialbot-web"
    sys_version = ""

    def __init__(self, *args, rasa_port: int, **kwargs):
        self.rasa_port = rasa_port
        super().__init__(*args, **kwargs)

    def _resolve(self) -> Tuple[HTTPStatus, Optional[bytes], str]:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path == "/config.json":
            return HTTPStatus.OK, page_config(self.rasa_port), TYPES[".json"]
        if path == "/healthz":
            return HTTPStatus.OK, b'{"status":"ok"}', TYPES[".json"]
        file = routes().get(path)  # looked up per request (a handful of files): edits show on reload
        if file is None:
            return HTTPStatus.NOT_FOUND, b"not found", "text/plain; charset=utf-8"
        if not file.exists():
            return (
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"{file.name} is missing: run `make setup`".encode(),
                "text/plain; charset=utf-8",
            )
        return HTTPStatus.OK, file.read_bytes(), TYPES.get(file.suffix, "application/octet-stream")

    def _answer(self, with_body: bool) -> None:
        status, body, content_type = self._resolve()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body or b"")))
        for name, value in security_headers(self.rasa_port).items():
            self.send_header(name, value)
        self.end_headers()
        if with_body and body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(with_body=False)

    def log_message(self, format: str, *args) -> None:
        # Paths only, at debug level: the pages carry no patient data in URLs, and logs stay quiet.
        logger.debug("%s %s", self.address_string(), format % args)


def make_server(port: int, rasa_port: int) -> ThreadingHTTPServer:
    handler = partial(PageHandler, rasa_port=rasa_port)
    return ThreadingHTTPServer((HOST, port), handler)


@click.command()
@click.option("--port", envvar="WEB_PORT", default=8080, show_default=True)
@click.option("--rasa-port", envvar="RASA_PORT", default=5005, show_default=True)
def main(port: int, rasa_port: int) -> None:
    """Serve the patient page (/) and the nurse console (/nurse) on 127.0.0.1."""
    if not WIDGET_BUNDLE.exists():
        raise click.ClickException(f"{WIDGET_BUNDLE} is missing: run `make setup` (npm ci --prefix web)")
    server = make_server(port, rasa_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
