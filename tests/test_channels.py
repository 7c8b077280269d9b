"""The socket.io channel's rules and the page server, without the Rasa stack.

The end-to-end checks (origins refused by the running server, forged session
ids replaced, foreign messages dropped, the pages in Chromium) are in
tests/test_browser.py; these cover the pieces alone, fast.
"""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from bot import web
from bot.channels import SessionIds, TrialbotSocketIO, clean_metadata, page_origins


def test_issued_session_ids_check_out():
    ids = SessionIds()
    issued = {ids.issue() for _ in range(50)}
    assert len(issued) == 50
    assert all(ids.is_valid(i) and len(i) == 64 for i in issued)


@pytest.mark.parametrize("candidate", [
    None, "", "abc", 12, "0" * 64, "g" * 64, "é" * 64,
])
def test_ids_we_did_not_issue_are_refused(candidate):
    assert not SessionIds().is_valid(candidate)


def test_a_tampered_or_foreign_id_is_refused():
    ids, other = SessionIds(), SessionIds()
    issued = ids.issue()
    tampered = ("1" if issued[0] != "1" else "2") + issued[1:]
    assert not ids.is_valid(tampered)
    assert not other.is_valid(issued)  # another process (another secret)
    assert SessionIds(b"shared secret").is_valid(SessionIds(b"shared secret").issue())


def test_only_a_known_role_survives_from_custom_data():
    assert clean_metadata({"role": "nurse", "name": "Jane Doe"}) == {"role": "nurse"}
    assert clean_metadata({"role": "admin"}) == {}
    assert clean_metadata("role=nurse") == {}
    assert clean_metadata(None) == {}


def test_origins_are_the_pages_own(monkeypatch):
    monkeypatch.setenv("WEB_PORT", "8123")
    assert page_origins() == ["http://127.0.0.1:8123", "http://localhost:8123"]
    assert TrialbotSocketIO.from_credentials({}).allowed_origins == page_origins()
    with pytest.raises(ValueError):
        TrialbotSocketIO(allowed_origins=["*"])


def test_credentials_file_registers_this_channel():
    import yaml

    credentials = yaml.safe_load((web.ROOT / "credentials.yml").read_text())
    assert "socketio" not in credentials  # Rasa's own channel would join any room a client names
    assert credentials["bot.channels.TrialbotSocketIO"]["metadata_key"] == "customData"


# --- the page server ---------------------------------------------------------------


@pytest.fixture
def page_server(monkeypatch):
    monkeypatch.setenv("TRIALBOT_API_TOKEN", "secret-token-never-served")
    server = web.make_server(0, rasa_port=5999)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_page_server_listens_on_loopback_only(page_server):
    _, server = page_server
    assert server.server_address[0] == "127.0.0.1"


def test_pages_and_config_are_served_without_the_token(page_server):
    base, _ = page_server
    for path in ("/", "/nurse", "/static/chat.js", "/static/render.js", "/static/trialbot.css"):
        status, headers, body = get(base + path)
        assert status == 200, path
        assert b"secret-token-never-served" not in body
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert "connect-src 'self' http://127.0.0.1:5999 ws://127.0.0.1:5999" in headers["Content-Security-Policy"]
    status, _, body = get(base + "/config.json")
    config = json.loads(body)
    assert config["socketUrl"] == "http://127.0.0.1:5999" and "token" not in json.dumps(config).lower()
    assert b'data-role="nurse"' in get(base + "/nurse")[2]
    assert b'data-role="patient"' in get(base + "/")[2]


@pytest.mark.skipif(not web.WIDGET_BUNDLE.exists(), reason="widget not installed: run `make setup`")
def test_the_widget_bundle_is_served_from_the_project(page_server):
    base, _ = page_server
    status, headers, body = get(base + "/vendor/webchat.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert body == web.WIDGET_BUNDLE.read_bytes()


@pytest.mark.parametrize("path", [
    "/static/../../bot/web.py", "/static/%2e%2e/%2e%2e/credentials.yml", "/../credentials.yml",
    "/web/index.html", "/node_modules/rasa-webchat/package.json", "/static/", "/vendor/",
])
def test_nothing_outside_the_route_table_is_served(page_server, path):
    base, _ = page_server
    status, _, _ = get(base + path)
    assert status == 404


def test_pages_carry_disclaimer_privacy_notice_and_labels():
    for page in ("index.html", "nurse.html"):
        html = (web.WEB / page).read_text()
        assert "not medical advice" in html.lower() or "Not medical advice" in html
        assert "session storage" in html
        assert '<html lang="en">' in html and 'name="viewport"' in html
        assert "localStorage" not in html and "cdn" not in html.lower()
    chat = (web.WEB / "static" / "chat.js").read_text()
    assert 'storage: "session"' in chat and "localStorage." not in chat
    render = (web.WEB / "static" / "render.js").read_text()
    assert "innerHTML" not in render and "dangerouslySetInnerHTML" not in render
