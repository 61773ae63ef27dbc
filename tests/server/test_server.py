"""vigil serve: every API route, auth, paging, refused paths, the live feed, background watches,
MQTT against a real broker, and the dashboard in a real headless browser."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="vigil serve needs the serve extra (pip install 'vigil[serve]')")

from fastapi.testclient import TestClient  # noqa: E402

from vigil.core.config import load_settings  # noqa: E402
from vigil.core.schemas import Alert, AlertExplanation, Region  # noqa: E402
from vigil.core.store import ClipRecord, DataDir, EventRecord, WindowRecord  # noqa: E402
from vigil.server import BackgroundServer, Service, create_app, video_id  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("VIGIL_TEST_ARTIFACTS", REPO / "test-artifacts"))
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
SOURCE = "/footage/lobby/door.mp4"


def make_alert(data: DataDir, store: Any, start: float, kind: str = "vehicle", what: str | None = None,
               camera: str = "lobby", source: str = SOURCE) -> dict[str, Any]:
    """Store one alert (its event, keyframe and clip files too) as a watch would."""
    import cv2

    event_id = f"{camera}-{int(start * 10):07d}"
    store.upsert_event(EventRecord(event_id, camera, source, start, start + 4, 0.9, kind, 0.9, "alerted", "x"))
    folder = data.event_dir(camera, event_id, create=True)
    cv2.imwrite(str(folder / "keyframe_00.jpg"), np.full((48, 64, 3), 90, np.uint8))
    (folder / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    store.add_clip(ClipRecord(event_id, start - 2, start + 6, str(folder / "clip.mp4")))
    alert = Alert(alert_id=Alert.make_id(camera, source, start), camera_id=camera, source=source, event_id=event_id,
                  event_type=kind, verdict="alert", start_s=start, end_s=start + 4, peak_score=0.9, confidence=0.91,
                  explanation=AlertExplanation(what=what or f"a bicycle crossed the walkway at {start:.0f} s",
                                               when=f"From {start:.1f} s", where="zone 'walkway'", why="people walk here"),
                  explained_by="rules", keyframes=[str(folder / "keyframe_00.jpg")], clip=str(folder / "clip.mp4"),
                  region=Region(x1=0.1, y1=0.2, x2=0.5, y2=0.9), latency_s=1.0,
                  created_at="2026-12-03T10:00:00+00:00").model_dump(mode="json")
    assert store.add_alert(alert, event_id=event_id)
    return alert


@pytest.fixture()
def seeded(tmp_path: Path) -> dict[str, Any]:
    """A data dir with one scanned video of camera ``lobby``: 60 s of window scores, three
    alerts (one whose explanation holds markup), keyframes and clips."""
    data = DataDir(tmp_path / "data")
    (tmp_path / "vigil.yaml").write_text("cameras:\n  lobby: {threshold: 0.4}\n")
    with data.open_store() as store:
        store.record_video(SOURCE, "lobby", fps=10.0, n_frames=600, duration_s=60.0, scanned_until=60.0, complete=True)
        store.add_windows(WindowRecord("lobby", SOURCE, float(t), float(t) + 1.6, 0.9 if 20 <= t < 26 else 0.1, 20 <= t < 26)
                          for t in np.arange(0, 59, 0.8))
        alerts = [make_alert(data, store, 21.0), make_alert(data, store, 40.0, "falling", what=HOSTILE),
                  make_alert(data, store, 50.0, "loitering")]
    settings = load_settings(tmp_path / "vigil.yaml", environ={}, overrides={"data_dir": str(data.root)})
    return {"data": data, "settings": settings, "alerts": alerts, "tmp": tmp_path}


@pytest.fixture()
def api(seeded: dict[str, Any]) -> Any:
    service = Service(seeded["settings"])
    with TestClient(create_app(service), base_url="http://localhost") as client:
        client.service = service  # type: ignore[attr-defined]
        yield client
    service.close()


def test_alerts_are_paged_newest_first_and_filtered(api: Any, seeded: dict[str, Any]) -> None:
    page = api.get("/api/alerts", params={"limit": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next_offset"] == 2
    rest = api.get("/api/alerts", params={"limit": 2, "offset": 2}).json()
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    ids = [a["id"] for a in page["items"] + rest["items"]]
    assert sorted(ids) == sorted(a["alert_id"] for a in seeded["alerts"]) and len(set(ids)) == 3
    falls = api.get("/api/alerts", params={"type": "falling"}).json()
    assert [a["event_type"] for a in falls["items"]] == ["falling"] and falls["items"][0]["severity"] == "high"
    assert api.get("/api/alerts", params={"camera": "yard"}).json()["total"] == 0
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    hour = timedelta(hours=1)
    stored = {"since": (now - hour).isoformat(), "until": (now + hour).replace(tzinfo=None).isoformat()}  # naive = UTC
    assert api.get("/api/alerts", params=stored).json()["total"] == 3
    assert api.get("/api/alerts", params={"since": (now + hour).isoformat()}).json()["total"] == 0
    assert api.get("/api/alerts", params={"until": (now - hour).strftime("%Y-%m-%dT%H:%M:%SZ")}).json()["total"] == 0
    bad = api.get("/api/alerts", params={"since": "yesterday"})
    assert bad.status_code == 422 and "ISO time" in bad.json()["detail"]
    assert api.get("/api/alerts", params={"limit": 0}).status_code == 422


def test_one_alert_event_video_timeline_and_its_files(api: Any, seeded: dict[str, Any]) -> None:
    first = seeded["alerts"][0]
    alert = api.get(f"/api/alerts/{first['alert_id']}").json()
    assert alert["event_type"] == "vehicle" and alert["clip_start_s"] == pytest.approx(19.0)
    assert api.get("/api/alerts/nope").status_code == 404
    event = api.get(f"/api/events/{first['event_id']}").json()
    assert event["status"] == "alerted" and [a["id"] for a in event["alerts"]] == [first["alert_id"]]
    assert event["clips"][0]["url"] == alert["clip_url"]
    assert api.get("/api/events/nope").status_code == 404
    (video,) = api.get("/api/videos").json()
    assert video["id"] == video_id("lobby", SOURCE) == alert["video_id"] and video["alerts"] == 3
    timeline = api.get(f"/api/videos/{video['id']}/scores").json()
    assert timeline["threshold"] == 0.4 and len(timeline["windows"]) == 74
    high = [w for w in timeline["windows"] if w[2] > 0.5]
    assert high[0][0] == pytest.approx(20.0) and high[-1][0] < 26
    assert [a["start_s"] for a in timeline["alerts"]] == [21.0, 40.0, 50.0]
    assert api.get("/api/videos/nope/scores").status_code == 404
    frame = api.get(alert["keyframe_urls"][0])
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg" and frame.content[:2] == b"\xff\xd8"
    assert api.get(alert["clip_url"]).headers["content-type"] == "video/mp4"


def test_files_outside_the_data_dir_or_not_media_are_refused(api: Any, seeded: dict[str, Any]) -> None:
    secret = seeded["tmp"] / "secret.jpg"
    secret.write_bytes(b"\xff\xd8secret")
    (seeded["data"].root / "lobby" / "link.jpg").symlink_to(secret)
    for path in ["%2e%2e/secret.jpg", "..%2fsecret.jpg", "lobby/..%2f..%2fsecret.jpg", "%2e%2e%2f%2e%2e%2fsecret.jpg",
                 "%2f" + str(secret).lstrip("/").replace("/", "%2f"), "/" + str(secret), "lobby%5c..%5c..%5csecret.jpg",
                 "lobby/link.jpg", "vigil.db", "lobby/profile/profile.json"]:
        r = api.get("/api/files/" + path)
        assert r.status_code in (403, 404), (path, r.status_code)
        assert b"secret" not in r.content
    assert api.get("/api/files/lobby/nothing.jpg").status_code == 404


def test_an_api_key_guards_every_api_route_but_not_health_or_the_page(seeded: dict[str, Any]) -> None:
    service = Service(seeded["settings"])
    try:
        client = TestClient(create_app(service, api_key="s3cret"), base_url="http://localhost")
        assert client.get("/health").json()["status"] == "ok"
        assert client.get("/").status_code == 200
        routes = ["/api/alerts", "/api/cameras", "/api/videos", "/api/sources", "/api/alerts/stream", "/api/openapi.json",
                  f"/api/files/lobby/{seeded['alerts'][0]['event_id']}/keyframe_00.jpg"]
        for route in routes:
            assert client.get(route).status_code == 401, route
            assert client.get(route, headers={"Authorization": "Bearer wrong"}).status_code == 401, route
        assert client.post("/api/ask", json={"question": "Was there a bicycle?"}).status_code == 401
        assert client.delete("/api/sources/x").status_code == 401
        ok = client.get("/api/alerts", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["total"] == 3
    finally:
        service.close()


def test_api_docs_need_the_key_and_load_nothing_from_elsewhere(seeded: dict[str, Any]) -> None:
    import re

    service = Service(seeded["settings"])
    try:
        client = TestClient(create_app(service, api_key="s3cret"), base_url="http://localhost")
        assert client.get("/api/openapi.json").status_code == 401
        assert client.get("/api/docs").status_code == 404  # the page moved out of /api/: it holds no data
        schema = client.get("/api/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()
        assert "/api/alerts" in schema["paths"] and schema["components"]["securitySchemes"]
        page = client.get("/docs")
        assert page.status_code == 200 and page.headers["content-security-policy"].startswith("default-src 'self'")
        assert "script-src 'self';" in page.headers["content-security-policy"]
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
        assert "<script>" not in page.text and "style=" not in page.text
        for asset in assets:
            assert client.get(asset).status_code == 200, asset
    finally:
        service.close()


def test_serve_refuses_an_api_key_no_client_can_send(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import vigil.server
    from vigil.cli import main
    from vigil.core.errors import ConfigError

    started: list[Any] = []
    monkeypatch.setattr(vigil.server, "serve", lambda *args, **kw: started.append(args))
    argv = ["--data-dir", str(tmp_path / "d"), "serve", "--port", str(_free_port())]
    for key in ("ключ-123", "s3cret\n", " s3cret", "s3c\x07ret"):
        monkeypatch.setenv("VIGIL_API_KEY", key)
        assert main(argv) == 2, repr(key)
        err = capsys.readouterr().err
        assert err.startswith("vigil: error: VIGIL_API_KEY") and err.count("\n") == 1 and key.strip() not in err
    assert not started
    monkeypatch.setenv("VIGIL_API_KEY", "s3cret with spaces-~!")
    assert main(argv) == 0 and started[0][3] == "s3cret with spaces-~!"
    assert main([*argv, "--allow-host", "http://x"]) == 2 and "--allow-host" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        create_app(Service(load_settings(None, environ={}, overrides={"data_dir": str(tmp_path / "d")})), api_key="ключ")


def test_ask_answers_as_the_command_line_does_with_links(api: Any) -> None:
    found = api.post("/api/ask", json={"question": "When did someone fall?", "all": True}).json()
    assert found["found"] is True and found["by"]["decider"] == "rules"
    (cite,) = found["citations"]
    assert cite["start_s"] == 40.0 and cite["video_id"] == video_id("lobby", SOURCE)
    none = api.post("/api/ask", json={"question": "Did anyone fight?", "camera": "lobby"}).json()
    assert none["found"] is False and none["citations"] == []
    assert api.post("/api/ask", json={"question": "Any falls?", "camera": "yard"}).status_code == 404
    assert api.post("/api/ask", json={"question": ""}).status_code == 422


def test_cameras_and_page_list_what_there_is(api: Any) -> None:
    (cam,) = api.get("/api/cameras").json()
    assert cam["camera_id"] == "lobby" and cam["alerts"] == 3 and cam["state"] == "not fitted"
    page = api.get("/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script" not in page.text.split("/static/app.js")[1]  # the only script is the file
    assert api.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert api.get("/static/..%2fserver.py").status_code == 404


def test_live_feed_streams_new_alerts_and_resumes_after_the_last_seen(seeded: dict[str, Any]) -> None:
    import httpx

    service = Service(seeded["settings"])
    got: list[tuple[int, dict[str, Any]]] = []
    try:
        with BackgroundServer(create_app(service)) as server:
            def follow(after: int | None, want: int, headers: dict[str, str] | None = None) -> None:
                url = server.url + "/api/alerts/stream" + (f"?after={after}" if after is not None else "")
                with httpx.stream("GET", url, headers=headers, timeout=20) as resp:
                    assert resp.headers["content-type"].startswith("text/event-stream")
                    event_id = None
                    for line in resp.iter_lines():
                        if line.startswith("id: "):
                            event_id = int(line[4:])
                        elif line.startswith("data: "):
                            got.append((event_id, json.loads(line[6:])))
                            if len(got) >= want:
                                return

            follow(0, 3)  # from the start: the three stored alerts, in the order they were stored
            assert [a["start_s"] for _, a in got] == [21.0, 40.0, 50.0]
            got.clear()
            reader = threading.Thread(target=follow, args=(None, 1))  # from now on
            reader.start()
            time.sleep(1.0)
            with seeded["data"].open_store() as other:  # another process's watch writes to the same store
                make_alert(seeded["data"], other, 55.0, "running")
            reader.join(timeout=10)
            assert [a["event_type"] for _, a in got] == ["running"]
            assert got[0][1]["keyframe_urls"][0].startswith("/api/files/lobby/")
            last = got[0][0]
            got.clear()
            follow(None, 1, headers={"Last-Event-ID": str(last - 1)})  # a reconnect gets what it missed, once
            assert [a["event_type"] for _, a in got] == ["running"]
    finally:
        service.close()


# --------------------------------------------------------------------------- background watches
def test_a_background_watch_raises_the_alert_and_can_be_stopped(synth_small: Path, fitted_camera: tuple[Path, Path],
                                                                 tmp_path: Path) -> None:
    from vigil.core.schemas import load_ground_truth

    fitted, _ = fitted_camera
    data = tmp_path / "data"
    shutil.copytree(fitted / "plaza" / "profile", data / "plaza" / "profile")
    settings = load_settings(synth_small / "vigil.yaml", environ={}, overrides={"data_dir": str(data)})
    truth = load_ground_truth(synth_small / "gt.json")
    (fall,) = [n for n, t in truth.items() if t.events and t.events[0][2] == "falling"]
    (normal, *_) = [n for n, t in truth.items() if not t.events]
    service = Service(settings)
    try:
        client = TestClient(create_app(service), base_url="http://localhost")
        assert client.post("/api/sources", json={"source": "x.mp4", "camera": "nope"}).status_code == 404
        missing = client.post("/api/sources", json={"source": str(tmp_path / "gone.mp4"), "camera": "plaza"})
        assert missing.status_code == 422 and "no such file" in missing.json()["detail"]
        job = client.post("/api/sources", json={"source": str(synth_small / truth[fall].path), "camera": "plaza"}).json()
        assert client.post("/api/sources", json={"source": str(synth_small / truth[fall].path), "camera": "plaza"}).status_code == 409
        stopped = client.post("/api/sources", json={"source": str(synth_small / truth[normal].path), "camera": "plaza"}).json()
        assert client.get("/api/cameras").json()[0]["state"] == "watching"
        time.sleep(1.0)
        halted = client.delete(f"/api/sources/{stopped['id']}").json()
        deadline = time.monotonic() + 60  # on a loaded machine the stop may outlast the DELETE's wait
        while halted["status"] in ("starting", "watching") and time.monotonic() < deadline:
            time.sleep(0.5)
            halted = client.get(f"/api/sources/{stopped['id']}").json()
        assert halted["status"] == "stopped" and halted["video_s"] < truth[normal].duration_s
        deadline = time.monotonic() + 120
        while client.get(f"/api/sources/{job['id']}").json()["status"] in ("starting", "watching"):
            assert time.monotonic() < deadline, "the watch did not finish"
            time.sleep(0.5)
        done = client.get(f"/api/sources/{job['id']}").json()
        assert done["status"] == "finished" and done["error"] is None and done["alerts"] >= 1
        falls = client.get("/api/alerts", params={"type": "falling"}).json()["items"]
        onset = truth[fall].events[0][0]
        assert any(abs(a["start_s"] - onset) <= 2.0 for a in falls)
        clip = client.get(falls[0]["clip_url"])
        assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4" and len(clip.content) > 1000
        assert falls[0]["clip_start_s"] <= falls[0]["start_s"]
        videos = {v["name"]: v for v in client.get("/api/videos").json()}
        assert videos[Path(truth[fall].path).name]["complete"] and not videos[Path(truth[normal].path).name]["complete"]
        assert client.get("/api/cameras").json()[0]["state"] == "idle"
    finally:
        service.close()


def _unblock_fifo(path: Path) -> None:
    """Let a reader stuck opening ``path`` go (it then reads an empty file)."""
    with contextlib.suppress(OSError):  # no reader waiting
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def test_a_fifo_source_is_refused_at_once_and_a_stuck_watch_can_be_stopped(
        seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    import perception.source.video

    tmp = seeded["tmp"]
    profile = seeded["data"].root / "lobby" / "profile"
    profile.mkdir(parents=True)
    (profile / "profile.json").write_text("{}")  # fitted, as far as starting a watch needs to know
    fifo = tmp / "door.mp4"
    os.mkfifo(fifo)
    clip = tmp / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    release = threading.Event()
    real_identify = perception.source.video.identify_source

    def stuck_identify(source: Any) -> Any:  # a source that stops answering once the job reads it
        release.wait(60)
        return real_identify(source)

    service = Service(seeded["settings"])
    service.stop_wait_s = 1.0
    try:
        with BackgroundServer(create_app(service)) as server, httpx.Client(base_url=server.url, timeout=5) as client:
            for _ in range(3):
                r = client.post("/api/sources", json={"source": str(fifo), "camera": "lobby"})
                assert r.status_code == 422 and "not a regular file" in r.json()["detail"]
            r = client.post("/api/ask", json={"question": "Any falls?", "video": str(fifo)})
            assert r.status_code == 422 and "not a regular file" in r.json()["detail"]
            monkeypatch.setattr(perception.source.video, "identify_source", stuck_identify)
            job = client.post("/api/sources", json={"source": str(clip), "camera": "lobby"})
            assert job.status_code == 201 and job.json()["status"] == "starting"  # answered before any read
            assert client.get("/health").json()["watching"] == 1
            assert client.get("/api/cameras").json()[0]["state"] == "watching"
            t0 = time.monotonic()
            stopped = client.delete(f"/api/sources/{job.json()['id']}").json()
            assert stopped["status"] == "stopped" and stopped["ended_at"] and time.monotonic() - t0 < 4
            assert [j["status"] for j in client.get("/api/sources").json()] == ["stopped"]
            assert client.get("/health").json()["watching"] == 0
            assert client.get("/api/cameras").json()[0]["state"] != "watching"
            # a read that cannot be interrupted: the stop still ends the job; the reader is left behind
            monkeypatch.setattr(service, "_identify", lambda job: release.wait(60))
            again = client.post("/api/sources", json={"source": str(clip), "camera": "lobby"}).json()
            halted = client.delete(f"/api/sources/{again['id']}").json()
            assert halted["status"] == "stopped" and "left behind" in halted["error"]
            assert client.get("/health").json()["watching"] == 0
            # and a source that never answers fails the job by itself
            monkeypatch.undo()
            monkeypatch.setattr(perception.source.video, "identify_source", stuck_identify)
            service.identify_timeout_s = 0.5
            slow = client.post("/api/sources", json={"source": str(clip), "camera": "lobby"}).json()
            assert _wait(lambda: client.get(f"/api/sources/{slow['id']}").json()["status"] == "failed")
            assert "no answer within 0.5 s" in client.get(f"/api/sources/{slow['id']}").json()["error"]
    finally:
        release.set()
        _unblock_fifo(fifo)
        service.close()


# --------------------------------------------------------------------------- MQTT
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def mosquitto(tmp_path: Path) -> Any:
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if exe is None:
        pytest.skip("Debian's mosquitto broker is not installed (.ci/run installs it)")
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "mosquitto did not start"
            time.sleep(0.1)
    yield f"mqtt://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def _subscribe(url: str, topic: str) -> tuple[Any, list[tuple[str, bytes, bool]]]:
    import paho.mqtt.client as mqtt

    got: list[tuple[str, bytes, bool]] = []
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: got.append((m.topic, m.payload, bool(m.retain)))
    client.on_subscribe = lambda *a: ready.set()
    host, port = url.removeprefix("mqtt://").split(":")
    client.connect(host, int(port))
    client.subscribe(topic, qos=1)
    client.loop_start()
    assert ready.wait(5)
    return client, got


def _wait(pred: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_mqtt_publishes_each_new_alert_once_and_retained_camera_status(seeded: dict[str, Any], mosquitto: str) -> None:
    sub, got = _subscribe(mosquitto, "vigil/#")
    data = seeded["data"]
    try:
        service = Service(seeded["settings"], mqtt_url=mosquitto)
        try:
            assert service.mqtt.wait_connected(10)
            assert _wait(lambda: any(t == "vigil/lobby/status" for t, _, _ in got))
            status = json.loads(next(p for t, p, _ in got if t == "vigil/lobby/status"))
            assert status["state"] == "idle" and status["alerts"] == 3
            with data.open_store() as other:
                new = make_alert(data, other, 57.0, "intrusion")
            assert _wait(lambda: any(t == "vigil/lobby/alerts" for t, _, _ in got))
        finally:
            service.close()
        alerts = [json.loads(p) for t, p, _ in got if t == "vigil/lobby/alerts"]
        # the three alerts stored before the broker was first used are not sent; the new one is
        assert [a["alert_id"] for a in alerts] == [new["alert_id"]] and alerts[0]["event_type"] == "intrusion"
        assert json.loads(next(p for t, p, _ in reversed(got) if t == "vigil/lobby/status"))["state"] == "offline"
        # raised while the server was down: published when it is back, and nothing twice
        with data.open_store() as other:
            later = make_alert(data, other, 58.5, "running")
        service = Service(seeded["settings"], mqtt_url=mosquitto)
        try:
            assert _wait(lambda: len([1 for t, _, _ in got if t == "vigil/lobby/alerts"]) >= 2)
            time.sleep(1.0)
        finally:
            service.close()
        alerts = [json.loads(p)["alert_id"] for t, p, _ in got if t == "vigil/lobby/alerts"]
        assert alerts == [new["alert_id"], later["alert_id"]]
    finally:
        sub.loop_stop()
        sub.disconnect()
    # a late subscriber still learns each camera's last status (retained)
    late, seen = _subscribe(mosquitto, "vigil/lobby/status")
    try:
        assert _wait(lambda: bool(seen)) and seen[0][2] is True
    finally:
        late.loop_stop()
        late.disconnect()


def test_a_bad_mqtt_url_is_one_clear_line() -> None:
    from vigil.app.delivery.mqtt import parse_mqtt_url
    from vigil.core.errors import ConfigError

    assert parse_mqtt_url("mqtt://user:pw@broker.local/site1").prefix == "site1"
    assert parse_mqtt_url("mqtts://broker.local").port == 8883
    with pytest.raises(ConfigError, match="mqtt://localhost:1883"):
        parse_mqtt_url("http://broker:1883")
    with pytest.raises(ConfigError, match="out of range"):
        parse_mqtt_url("mqtt://broker:99999")


# --------------------------------------------------------------------------- the dashboard in a browser
@pytest.fixture()
def chrome() -> Any:
    """A headless Chromium (Debian's, with its driver) that keeps its console log."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=DriverService(driver_path), options=options)
    yield browser
    browser.quit()


def test_dashboard_in_headless_chromium_shows_alerts_inert_timeline_and_answers(seeded: dict[str, Any], chrome: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    service = Service(seeded["settings"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        with BackgroundServer(create_app(service)) as server:
            browser = chrome
            wait = WebDriverWait(browser, 20)
            browser.get(server.url + "/")
            wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#alerts .alert")) == 3)
            hostile = browser.find_element(By.CSS_SELECTOR, "#alerts .alert[data-type=falling]")
            assert HOSTILE in hostile.text  # shown as text ...
            assert browser.execute_script("return window.__pwned === undefined")  # ... and never run
            assert not browser.find_elements(By.CSS_SELECTOR, "#alerts img[src=x], #alerts script")
            assert "high" in hostile.get_attribute("class")
            hostile.click()
            wait.until(lambda b: b.find_element(By.ID, "timeline").get_attribute("data-points") == "74")
            assert browser.find_element(By.ID, "timeline").get_attribute("data-alerts") == "3"
            detail = browser.find_element(By.ID, "alert-detail").text
            assert HOSTILE in detail and "Falling" in detail
            wait.until(lambda b: b.find_element(By.ID, "player").get_attribute("data-time") == "40")
            assert browser.execute_script("return window.__pwned === undefined")
            box = browser.find_element(By.ID, "question")
            box.send_keys("When did someone fall?")
            browser.find_element(By.CSS_SELECTOR, "#ask-form button").click()
            cite = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#answer .cite")))
            assert cite.get_attribute("data-start") == "40" and "40.0 s" in cite.text
            assert browser.find_element(By.CSS_SELECTOR, "#answer p").get_attribute("data-found") == "true"
            # a new alert arrives over the live feed without a reload
            with seeded["data"].open_store() as other:
                make_alert(seeded["data"], other, 58.0, "intrusion")
            wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#alerts .alert")) == 4)
            assert browser.find_element(By.ID, "conn").text == "live"
            browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    finally:
        service.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


def test_api_docs_page_works_offline_with_the_key_the_dashboard_keeps(seeded: dict[str, Any], chrome: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    service = Service(seeded["settings"])
    try:
        with BackgroundServer(create_app(service, api_key="s3cret")) as server:
            wait = WebDriverWait(chrome, 20)
            chrome.get(server.url + "/")
            wait.until(lambda b: b.find_element(By.ID, "key").is_displayed())
            chrome.find_element(By.ID, "key").send_keys("s3cret")
            chrome.find_element(By.CSS_SELECTOR, "#keyform button").click()
            wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#alerts .alert")) == 3)
            chrome.get_log("browser")  # the dashboard's 401s before the key was given: read, so gone
            chrome.find_element(By.LINK_TEXT, "API").click()  # the docs page, in the same tab: the key goes along
            wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) >= 12)
            assert not chrome.find_element(By.ID, "keyform").is_displayed()
            assert "/api/ask" in chrome.find_element(By.ID, "swagger-ui").text
            log = [e["message"] for e in chrome.get_log("browser")]
            assert not [m for m in log if "Content Security Policy" in m or "401" in m], log
    finally:
        service.close()


def test_serve_refuses_a_busy_port_or_a_bad_broker_url_in_one_line(tmp_path: Path, capsys: Any) -> None:
    from vigil.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--data-dir", str(tmp_path / "d"), "serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
    assert main(["--data-dir", str(tmp_path / "d"), "serve", "--mqtt", "http://broker:1883"]) == 2
    assert "mqtt://localhost:1883" in capsys.readouterr().err
