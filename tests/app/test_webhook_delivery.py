"""Webhooks: only new alerts unless backfilled; refusing and dead receivers."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from faults import camera_args, vigil_run
from helpers import synth_video


class _Receiver:
    """A webhook receiver on loopback answering each POST with ``status``."""

    def __init__(self, status: int) -> None:
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                outer.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_new_webhook_gets_only_new_alerts_unless_backfilled(synth_small: Path, data: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    base = camera_args(synth_small, data)
    assert vigil_run(capsys, *base, "watch", synth_video(synth_small, "falling"), "--camera", "plaza")[0] == 0  # no hook yet
    hook = _Receiver(200)
    try:
        code, _out, _err = vigil_run(capsys, *base, "watch", synth_video(synth_small, "running"), "--camera", "plaza",
                                  "--webhook", hook.url)
        assert code == 0 and hook.received and {a["event_type"] for a in hook.received} == {"running"}
        code, _out, _err = vigil_run(capsys, *base, "watch", synth_video(synth_small, "running"), "--camera", "plaza",
                                  "--webhook", hook.url, "--webhook-backfill")
        assert code == 0 and "falling" in {a["event_type"] for a in hook.received}
        assert len(hook.received) == len({a["alert_id"] for a in hook.received})  # nothing twice
    finally:
        hook.close()


def test_a_refusing_webhook_is_not_retried_and_a_dead_one_exits_3(synth_small: Path, data: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    base = camera_args(synth_small, data)
    hook = _Receiver(400)
    try:
        code, _out, err = vigil_run(capsys, *base, "watch", synth_video(synth_small, "falling"), "--camera", "plaza",
                                 "--webhook", hook.url)
        assert code == 3 and "refused" in err
        posted = len(hook.received)
        assert posted >= 1
        code, _out, err = vigil_run(capsys, *base, "watch", synth_video(synth_small, "running"), "--camera", "plaza",
                                 "--webhook", hook.url)
        # the refused alerts are not posted again; only the new run's alerts are
        assert {a["event_type"] for a in hook.received[posted:]} == {"running"}
    finally:
        hook.close()
    code, _out, err = vigil_run(capsys, *base, "watch", synth_video(synth_small, "intrusion"), "--camera", "plaza",
                             "--webhook", "http://127.0.0.1:9/hook")
    assert code == 3 and "could not be delivered" in err and "stay queued" in err
    code, _out, err = vigil_run(capsys, *base, "watch", synth_video(synth_small, "intrusion"), "--camera", "plaza",
                             "--webhook", "alarms.local/hook")
    assert code == 2 and "expected an http:// or https:// URL" in err
