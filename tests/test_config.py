"""Configuration: YAML, per-camera merging, environment overrides, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.config import load_settings
from vigil.errors import ConfigError, UnknownCameraError


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
