"""The V-JEPA 2 encoder through the real loading path, with a tiny random model saved in the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the vjepa2 extra (torch) is not installed")
transformers = pytest.importorskip("transformers", reason="the vjepa2 extra (transformers) is not installed")

from perception.encoders import get_encoder  # noqa: E402
from perception.encoders.vjepa2 import IMAGENET_MEAN, IMAGENET_STD, ModelLoadError  # noqa: E402
from perception.source.windows import Window  # noqa: E402
from vigil.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = transformers.VJEPA2Config(
        crop_size=64, patch_size=16, frames_per_clip=16, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, mlp_ratio=2.0, pred_hidden_size=16, pred_num_hidden_layers=1,
        pred_num_attention_heads=2, pred_num_mask_tokens=2,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("vjepa2-tiny")
    transformers.VJEPA2Model(config).save_pretrained(folder)
    # a processor config the way the hub ships one: the crop size comes from here
    (folder / "video_preprocessor_config.json").write_text(json.dumps({"crop_size": {"height": 64, "width": 64}}))
    return folder


def _window(frames: np.ndarray) -> Window:
    t = np.arange(len(frames)) / 8.0
    return Window(0, frames, t, np.arange(len(frames)), 0.0, len(frames) / 8.0, len(frames))


def test_loads_from_a_local_folder_and_embeds_windows(tiny_model: Path) -> None:
    enc = get_encoder("vjepa2", model=str(tiny_model), grid_rows=2, grid_cols=2, batch_size=2)
    assert enc.crop == 64 and enc.resize == 73  # shortest edge 64 * 256 / 224
    rng = np.random.default_rng(0)
    a = _window(rng.integers(0, 255, (16, 120, 160, 3), dtype=np.uint8))
    b = _window(np.full((16, 120, 160, 3), 128, np.uint8))
    ea, eb = enc.embed_batch([a, b])
    assert ea.vector.shape == (32,) and ea.cells.shape == (2, 2, 32)
    assert not np.allclose(ea.vector, eb.vector)  # content matters
    assert np.allclose(enc.embed(a).vector, ea.vector, atol=1e-5)  # and the same input gives the same


def test_preprocessing_is_the_documented_one(tiny_model: Path) -> None:
    enc = get_encoder("vjepa2", model=str(tiny_model))
    frames = np.full((2, 90, 160, 3), (255, 0, 128), np.uint8)  # wide frames: crop the middle
    x = enc.preprocess(frames)
    assert tuple(x.shape) == (2, 3, 64, 64)
    expected = [(c / 255.0 - m) / s for c, m, s in zip((255, 0, 128), IMAGENET_MEAN, IMAGENET_STD)]
    assert np.allclose(x.mean(dim=(0, 2, 3)).numpy(), expected, atol=1e-3)


def test_missing_weights_give_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="V-JEPA 2 weights: --encoder-model facebook/vjepa2-vitl-fpc64-256: .*"
                                             "HF_HUB_OFFLINE.*pass a local folder"):
        get_encoder("vjepa2")
    with pytest.raises(ModelLoadError, match="no loadable V-JEPA 2 weights"):
        get_encoder("vjepa2", model=str(tmp_path))


def test_fit_and_score_a_camera_with_vjepa2(tiny_model: Path, synth_small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = sorted(str(p) for p in (synth_small / "train").glob("*.mp4"))[:1]
    test = str(next((synth_small / "test").glob("*_falling.mp4")))
    data = ["--data-dir", str(tmp_path)]
    assert main([*data, "fit", "--camera", "jepa", "--normal", *train, "--encoder", "vjepa2", "--encoder-model", str(tiny_model)]) == 0
    capsys.readouterr()
    assert main([*data, "score", test, "--camera", "jepa", "--out", str(tmp_path / "s.csv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 400 and report["windows"] > 0
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == "frame,time_s,score" and len(rows) == 401
    scores = np.array([float(r.split(",")[2]) for r in rows[1:]])
    assert np.all((scores >= 0) & (scores <= 1))
    # scoring with another encoder than the one fitted is refused in one line
    assert main([*data, "score", test, "--camera", "jepa", "--out", str(tmp_path / "t.csv"), "--encoder", "motion"]) == 2
    assert "was fitted with the vjepa2 encoder, not motion" in capsys.readouterr().err
