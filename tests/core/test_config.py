"""Configuration: YAML, per-camera merging, environment overrides, one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vigil.core.config import load_settings
from vigil.core.errors import ConfigError, UnknownCameraError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.defaults.fps == 8
    assert settings.defaults.window == 16 and settings.defaults.stride == 8
    assert settings.cameras == {}
    assert not settings.llm.configured


def test_camera_sections_override_defaults_key_by_key(tmp_path: Path) -> None:
    path = write(tmp_path, """
defaults: {fps: 6, threshold: 0.55}
cameras:
  lobby:
    threshold: 0.7
    zones:
      - {name: door, kind: restricted, polygon: [[0.7, 0.4], [0.95, 0.4], [0.95, 0.9], [0.7, 0.9]]}
  yard: {}
""")
    settings = load_settings(path, environ={})
    lobby = settings.camera("lobby")
    assert lobby.fps == 6 and lobby.threshold == 0.7
    assert lobby.zones[0].contains(0.8, 0.5) and not lobby.zones[0].contains(0.5, 0.5)
    assert settings.camera("yard").threshold == 0.55
    # an unconfigured camera gets the defaults unless it must exist
    assert settings.camera("garage").fps == 6
    with pytest.raises(UnknownCameraError, match="unknown camera 'garage'.*lobby, yard"):
        settings.camera("garage", must_exist=True)


def test_environment_overrides_file_and_flags_override_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "data_dir: /from/file\nllm: {url: 'http://file:8000/v1'}\n")
    env = {"VIGIL_DATA_DIR": "/from/env", "VIGIL_LLM_URL": "http://env:9000/v1/", "VIGIL_LLM_API_KEY": "sk-1"}
    settings = load_settings(path, environ=env)
    assert str(settings.data_dir) == "/from/env"
    assert settings.llm.url == "http://env:9000/v1"
    assert settings.llm.api_key.get_secret_value() == "sk-1"
    assert settings.vlm.api_key.get_secret_value() == "sk-1"  # falls back to the LLM key
    settings = load_settings(path, environ=env, overrides={"data_dir": "/from/flag"})
    assert str(settings.data_dir) == "/from/flag"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("defaults: {fps: -3}\n", r"defaults\.fps = -3: input should be greater than 0"),
        ("cameras: {lobby: {stride: 20}}\n", r"cameras\.lobby: stride \(20\) must not exceed window \(16\)"),
        ("cameras: {lobby: {fsp: 8}}\n", r"unknown setting 'cameras\.lobby\.fsp' \(allowed: source, fps, frame_width"),
        ("cameras:\n  lobby:\n    zones: [{name: d, kind: forbidden, polygon: [[0, 0], [1, 0], [1, 1]]}]\n",
         r"cameras\.lobby\.zones\.0\.kind = 'forbidden': input should be 'restricted', 'loitering' or 'pedestrian'"),
        ("cameras:\n  lobby:\n    zones: [{name: d, kind: restricted, polygon: [[0, 0], [2, 0], [1, 1]]}]\n",
         r"point \(2\.0, 0\.0\) is outside \[0, 1\]"),
        ("llm: {url: localhost:8000}\n", r"llm\.url = 'localhost:8000': must be an http:// or https:// URL"),
        ("defaults: {fps: [8\n", r"invalid YAML at line 2, column 1"),
        ("- 1\n- 2\n", r"the top level must be a mapping"),
        ("cameras: {'bad name!': {}}\n", r"camera name 'bad name!'"),
        ("defaults: {detection: {detector: yolo11n, precision: int8}}\n",
         r"precision int8 quantises yolov3-tiny only; yolo11n runs in fp32"),
    ],
)
def test_bad_values_give_one_line_naming_field_value_and_rule(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_settings(path, environ={})
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_bad_environment_value_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"VIGIL_FPS=fast \(defaults\.fps\): input should be a valid number"):
        load_settings(environ={"VIGIL_FPS": "fast"})


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml", environ={})


# --------------------------------------------------------------------------- bounded YAML
# nine levels of nine aliases: under 1 KB on disk, a billion values once expanded (a setting's
# error message that shows the value would spell them all out)
BILLION_LAUGHS = "defaults:\n  fps:\n" + "".join(
    f"    - &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi")
)


def _vigil(*argv: str, timeout: float) -> subprocess.CompletedProcess[str]:
    # a child process: on a Vigil that expands the file, the timeout stops it before it eats the host
    return subprocess.run([sys.executable, "-m", "vigil", *argv], capture_output=True, text=True, timeout=timeout)


def test_a_billion_laughs_config_is_refused_in_one_line_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 1000  # small on disk; a billion values once its aliases are expanded
    started = time.monotonic()
    result = _vigil("--config", str(path), "config", timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("vigil: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert str(path) in result.stderr and "aliases" in result.stderr
    assert time.monotonic() - started < 15  # the interpreter's start included; the check itself is instant


@pytest.mark.parametrize("text", ["defaults: {zones: &z [*z]}\n", "defaults: &d {detection: *d}\n"])
def test_an_alias_that_contains_itself_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="an alias contains itself") as info:
        load_settings(write(tmp_path, text), environ={})
    assert "\n" not in str(info.value)


def test_an_oversized_config_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    # valid settings padded past the cap: refused by size, whatever it holds
    path = write(tmp_path, "defaults: {fps: 6}\n" + "# padding\n" * 120_000)
    assert path.stat().st_size > 1 << 20
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"config file is larger than 1 MiB") as info:
        load_settings(path, environ={})
    assert time.monotonic() - started < 2
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    result = _vigil("--config", str(path), "config", timeout=30)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "larger than 1 MiB" in result.stderr


def test_anchors_that_share_a_section_still_work(tmp_path: Path) -> None:
    path = write(tmp_path, """
defaults: {fps: 6}
cameras:
  lobby: &lobby {threshold: 0.7, zones: [{name: door, kind: restricted, polygon: [[0, 0], [1, 0], [1, 1]]}]}
  hall: {<<: *lobby, threshold: 0.5}
""")
    settings = load_settings(path, environ={})
    assert settings.camera("hall").threshold == 0.5 and settings.camera("hall").zones[0].name == "door"


def test_an_integer_python_cannot_read_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid YAML") as info:
        load_settings(write(tmp_path, f"defaults: {{fps: {'9' * 5000}}}\n"), environ={})
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- camera names
@pytest.mark.parametrize("name", ["chroma", "models", "vigil.db", "checkpoints.db", "ask-keyframes", "vigil.db-wal",
                                  "Chroma"])
def test_names_vigil_uses_in_the_data_dir_are_refused_as_cameras(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"camera name '{re.escape(name)}' is reserved"):
        load_settings(write(tmp_path, f"cameras: {{'{name}': {{}}}}\n"), environ={})
    settings = load_settings(write(tmp_path, "cameras: {lobby: {}}\n"), environ={})
    with pytest.raises(ConfigError, match="is reserved"):
        settings.camera(name)


@pytest.mark.parametrize("argv", [
    ["probe", "{video}", "--camera", "{name}"],
    ["config", "--camera", "{name}"],
    ["fit", "--camera", "{name}", "--normal", "{video}"],
    ["score", "{video}", "--camera", "{name}", "--out", "{out}"],
    ["bench", "{video}", "--camera", "{name}"],
    ["watch", "{video}", "--camera", "{name}"],
    ["ask", "what happened?", "--camera", "{name}"],
    ["data", "build", "--from-footage", "{video}", "--camera", "{name}", "--out", "{out}"],
    ["eval", "compare", "--camera", "{name}", "--normal", "{video}", "--videos", "{video}", "--gt", "{gt}", "--out", "{out}"],
    ["eval", "alerts", "--gt", "{gt}", "--camera", "{name}"],
], ids=lambda argv: " ".join(a for a in argv[:2] if not a.startswith("{")))
@pytest.mark.parametrize("name", ["vigil.db", "models"])
def test_every_command_refuses_a_reserved_camera_before_any_work(argv: list[str], name: str, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from vigil.cli import main

    data = tmp_path / "data"
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    values = {"name": name, "video": str(video), "out": str(tmp_path / "out"), "gt": str(tmp_path / "gt.json")}
    code = main(["--data-dir", str(data), *(a.format(**values) for a in argv)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("vigil: error: ") and err.count("\n") == 1, err
    assert f"camera name '{name}' is reserved" in err
    assert not data.exists() and not (tmp_path / "out").exists()  # nothing was written
