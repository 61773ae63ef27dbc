"""vigil serve against hostile clients: a property-based fuzz of every route from the API's own
OpenAPI schema (no 500, no answer outside the schema), values past what the store can hold,
text no path holds, and pages of other sites whose names were pointed at this machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="vigil serve needs the serve extra (pip install 'vigil[serve]')")
pytest.importorskip("schemathesis", reason="the fuzz needs the test extra (pip install 'vigil[test]')")

from test_server import seeded  # noqa: E402, F401 - the data dir with three alerts, shared

from vigil.server import BackgroundServer, Service, create_app  # noqa: E402

#: test cases per route and phase; with about a dozen routes the run takes well under a minute
EXAMPLES = 60
#: no 500, and every answer's status, content type, body and headers as the schema says
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance," \
         "response_headers_conformance"


def test_no_route_answers_500_or_outside_its_schema(seeded: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    """Schemathesis's examples, coverage (boundary and invalid values of every parameter) and
    fuzzing phases, valid and invalid requests, against a server on loopback over the seeded
    data dir. The live feed never ends by itself, so it is left out (its refusals are tested
    below); no camera is fitted there, so no request can start a watch of a path on this machine."""
    service = Service(seeded["settings"])
    try:
        with BackgroundServer(create_app(service)) as server:
            run = subprocess.run(
                [sys.executable, "-m", "schemathesis.cli", "run", server.url + "/api/openapi.json", "--checks", CHECKS,
                 "--exclude-path", "/api/alerts/stream", "--phases", "examples,coverage,fuzzing", "--mode", "all",
                 "--max-examples", str(EXAMPLES), "--workers", "1", "--request-timeout", "20", "--no-color"],
                cwd=tmp_path, capture_output=True, text=True, timeout=150)
    finally:
        service.close()
    summary = run.stdout[run.stdout.find("= FAILURES ="):] if "= FAILURES =" in run.stdout else run.stdout[-3000:]
    assert run.returncode == 0, summary[:8000] + run.stderr[-2000:]
    assert "Tested: 12" in run.stdout or "Tested: 13" in run.stdout, run.stdout[-3000:]


def test_a_page_of_another_site_rebound_to_loopback_is_refused(seeded: dict[str, Any]) -> None:  # noqa: F811
    import httpx

    service = Service(seeded["settings"])
    keyframe = f"/api/files/lobby/{seeded['alerts'][0]['event_id']}/keyframe_00.jpg"
    try:
        with BackgroundServer(create_app(service)) as server:
            def get(path: str, host: str) -> httpx.Response:
                return httpx.get(server.url + path, headers={"Host": host}, timeout=10)

            for path in ("/api/alerts", keyframe, "/api/sources", "/"):  # what a rebinding page would read
                assert get(path, f"evil.example:{server.port}").status_code == 400, path
            post = httpx.post(server.url + "/api/sources", headers={"Host": "evil.example"}, timeout=10,
                              json={"source": "/etc", "camera": "lobby"})
            assert post.status_code == 400
            for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}", "[::1]", "192.0.2.7:8080"):
                assert get("/api/alerts", host).json()["total"] == 3, host
        from vigil.core.errors import ConfigError
        from vigil.server import trusted_hosts

        allowed = trusted_hosts("0.0.0.0", ["vigil.lan", "*.cams.example"])
        with BackgroundServer(create_app(service, allowed_hosts=allowed)) as server:
            for host, code in [("vigil.lan", 200), ("a.cams.example:8080", 200), ("localhost", 200),
                               ("vigil.lan.evil.example", 400), ("0.0.0.0.evil.example", 400),
                               ("evil.example@127.0.0.1", 400)]:
                assert get("/api/alerts", host).status_code == code, host
    finally:
        service.close()
    with pytest.raises(ConfigError, match="--allow-host 'http://vigil.lan'"):
        trusted_hosts(allow=["http://vigil.lan"])


def test_bad_text_and_numbers_past_64_bits_are_422_not_500(seeded: dict[str, Any]) -> None:  # noqa: F811
    import httpx

    huge = str(2**64)
    service = Service(seeded["settings"])
    try:
        with BackgroundServer(create_app(service)) as server, httpx.Client(base_url=server.url, timeout=5) as client:
            answers = [
                client.post("/api/ask", content=b'{"question": "When did \\ud800 fall?"}',
                            headers={"Content-Type": "application/json"}),
                client.post("/api/ask", json={"question": "Any falls?", "video": "/footage/a\x00b.mp4"}),
                client.post("/api/sources", json={"source": "/footage/a\x00b.mp4", "camera": "lobby"}),
                client.get("/api/alerts", params={"offset": huge}),
                client.get("/api/alerts/stream", params={"after": huge}),  # the live feed died on these
                client.get("/api/alerts/stream", headers={"Last-Event-ID": huge}),
                client.get("/api/alerts/stream", headers={"Last-Event-ID": "\u00b2".encode("latin-1")}),  # isdigit, not int
            ]
            for r in answers:
                assert r.status_code == 422, (r.request.url, r.status_code, r.text[:200])
                assert isinstance(r.json()["detail"], list) and r.json()["detail"][0]["loc"]
            long = client.post("/api/ask", json={"question": "Any falls?", "video": f"{seeded['tmp']}/{'0' * 300}"})
            assert long.status_code == 422 and "cannot look it up (File name too long)" in long.json()["detail"]
    finally:
        service.close()
