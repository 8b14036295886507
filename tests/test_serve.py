"""`caseclock serve`: says where it listens, logs each request without its data, and serves its
API docs with no asset from outside."""

from __future__ import annotations

import io
import json
import re
import subprocess
import urllib.request


from engine import logs
from engine.interfaces.api import create_app

from .conftest import api_client
from .test_cli import REPO, _env


def test_docs_load_every_asset_from_the_app(engine):
    client = api_client(create_app(engine), engine.store)
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        assert "://" not in html.text  # no CDN, no fonts: the page works offline
        assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
        assert assets and all(a.startswith("/") for a in assets)
        for asset in assets:
            assert client.get(asset).status_code == 200, asset
    assert client.get("/openapi.json").status_code == 200


def test_each_request_is_logged_without_its_query_string_or_body(engine):
    stream = io.StringIO()
    logs.configure(json_output=True, stream=stream)
    try:
        client = api_client(create_app(engine), engine.store)
        client.get("/cases/NOPE", params={"note": "Jane-Doe-7Q"})
        client.post("/cases", json={"workflow": "drp", "case_ref": "L-1", "data": {"concern": "Jane-Doe-7Q"}})
    finally:
        logs.configure()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    requests = [(r["method"], r["path"], r["status"]) for r in lines if r["event"] == "request"]
    assert requests == [("GET", "/cases/NOPE", 404), ("POST", "/cases", 422)]
    assert all(isinstance(r["duration_ms"], float) for r in lines if r["event"] == "request")
    assert "Jane" not in stream.getvalue()


def test_serve_prints_the_url_it_listens_on(tmp_path):
    env = {**_env(), "CASECLOCK_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    server = subprocess.Popen(["caseclock", "--log-json", "serve", "--port", "0", "--no-worker", "--create"],
                              cwd=REPO, env=env, text=True, stderr=subprocess.PIPE)
    try:
        url = None
        for line in server.stderr:
            found = re.match(r"caseclock: serving on (http://127\.0\.0\.1:\d+) \(API docs: /docs\)$", line.strip())
            if found:
                url = found.group(1)
                break
        assert url, "no URL printed"
        with urllib.request.urlopen(f"{url}/health?x=1", timeout=30) as answer:
            assert answer.status == 200
        access = json.loads(server.stderr.readline())
        assert (access["event"], access["method"], access["path"], access["status"]) == ("request", "GET", "/health", 200)
    finally:
        server.terminate()
        server.wait(timeout=30)
