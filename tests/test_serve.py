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


def _serve(tmp_path):
    """A real `caseclock serve` on a fresh database with a key: (process, base URL, key)."""
    env = {**_env(), "CASECLOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'big.db'}"}
    subprocess.run(["caseclock", "migrate"], cwd=REPO, env=env, check=True, capture_output=True)
    made = subprocess.run(["caseclock", "keys", "create", "--role", "integrator", "--name", "big body"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    server = subprocess.Popen(["caseclock", "serve", "--port", "0", "--no-worker"], cwd=REPO, env=env, text=True,
                              stderr=subprocess.PIPE)
    for line in server.stderr:
        found = re.match(r"caseclock: serving on http://127\.0\.0\.1:(\d+) ", line.strip() + " ")
        if found:
            return server, int(found.group(1)), key
    raise AssertionError("no URL printed")


def _answer(sock) -> str:
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode("latin-1")


def test_a_20_mb_body_is_refused_before_it_is_read(tmp_path):
    import select
    import socket

    server, port, key = _serve(tmp_path)
    try:
        head = (f"POST /cases HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                "Content-Type: application/json\r\n")
        # a declared 20 MB: refused on the headers alone, with nothing of the body sent
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall((head + f"Content-Length: {20 * 1024 * 1024}\r\n\r\n").encode())
            answer = _answer(sock)
        assert answer.startswith("HTTP/1.1 413") and "application/problem+json" in answer
        # streamed without a length: refused once it passes the cap, long before 20 MB
        sent = 0
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
            chunk = b"x" * 65536
            answered = False
            while sent < 20 * 1024 * 1024:
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += len(chunk)
                if select.select([sock], [], [], 0.02)[0]:  # the answer, if it has come
                    answered = True
                    break
            answer = _answer(sock) if answered or sent < 20 * 1024 * 1024 else ""
        assert answer.startswith("HTTP/1.1 413"), answer[:200]
        # the cap is 256 KiB; what was sent beyond it sat in the sockets' buffers (a few MB on a
        # busy machine, before the answer is seen) and was never read
        assert sent < 5 * 1024 * 1024, sent
    finally:
        server.terminate()
        server.wait(timeout=30)
