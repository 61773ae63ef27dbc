"""The normality model: cell-level and window-level distances, calibration, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from perception.score.scoring import Calibration, NormalityModel


def _normal(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cells = np.zeros((n, 4, 5, 3), np.float32)
    # someone walks along row 2 at a steady pace: (presence, speed, size)
    col = rng.integers(0, 5, n)
    cells[np.arange(n), 2, col] = np.stack([np.ones(n), rng.normal(0.8, 0.1, n), rng.normal(1.0, 0.1, n)], axis=1)
    vectors = cells.reshape(n, -1, 3).max(axis=1)
    return cells, vectors


def _fitted(kind: str = "knn") -> NormalityModel:
    cells, vectors = _normal()
    model = NormalityModel(cells, vectors, kind=kind)
    held_c, held_v = _normal(100, seed=1)
    model.calibrate_from(held_c, held_v)
    return model


@pytest.mark.parametrize("kind", ["knn", "gaussian"])
def test_unusual_behaviour_and_unusual_places_score_high_where_they_happen(kind: str) -> None:
    model = _fitted(kind)
    normal_c, normal_v = _normal(50, seed=2)
    normal = np.array([float(model.calibration(model.score(c, v).raw)) for c, v in zip(normal_c, normal_v)])
    fast = np.zeros((4, 5, 3), np.float32)
    fast[2, 3] = (1.0, 3.0, 1.0)  # running where people walk
    elsewhere = np.zeros((4, 5, 3), np.float32)
    elsewhere[0, 1] = (1.0, 0.8, 1.0)  # walking where nobody does
    for cells, where in ((fast, (2, 3)), (elsewhere, (0, 1))):
        result = model.score(cells, cells.reshape(-1, 3).max(axis=0))
        assert result.cell == where
        assert float(model.calibration(result.raw)) > np.quantile(normal, 0.99)
    assert np.median(normal) < 0.2


def test_calibration_maps_median_and_tail() -> None:
    raw = np.exp(np.random.default_rng(0).normal(0.0, 0.5, 5000))
    cal = Calibration.fit(raw)
    assert float(cal(np.median(raw))) == pytest.approx(0.05, abs=0.01)
    # 0.5 is about the 99.9th percentile of normal
    assert float(cal(np.quantile(raw, 0.999))) == pytest.approx(0.5, abs=0.1)
    assert float(cal(1e9)) == pytest.approx(1.0) and float(cal(0.0)) < 0.01


def test_restore_gives_the_same_scores() -> None:
    model = _fitted()
    back = NormalityModel.restore(model.settings(), model.arrays())
    cells, vectors = _normal(5, seed=3)
    for c, v in zip(cells, vectors):
        assert back.score(c, v).raw == pytest.approx(model.score(c, v).raw)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scorer"):
        NormalityModel(np.zeros((2, 1, 1, 1)), np.zeros((2, 1)), kind="svm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"need \(N, R, C, F\)"):
        NormalityModel(np.zeros((0, 1, 1, 1)), np.zeros((0, 1)))


def test_one_sided_tests_cover_only_the_chosen_features_and_survive_a_save() -> None:
    cells, vectors = _normal()
    model = NormalityModel(cells, vectors, exceedance=True, exceed_features=[1])  # speed only
    model.calibrate_from(*_normal(100, seed=1))
    fast = np.zeros((4, 5, 3), np.float32)
    fast[2, 3] = (1.0, 3.0, 1.0)
    big = np.zeros((4, 5, 3), np.float32)
    big[2, 3] = (1.0, 0.8, 3.0)
    assert model.exceedances(fast)[2, 3, 1] > 1.0
    assert model.exceedances(big).max() == 0.0  # size is left to the nearest neighbours
    again = NormalityModel.restore(model.settings(), model.arrays())
    assert again.exceed_features == [1] and again.exceedances(fast)[2, 3, 1] == model.exceedances(fast)[2, 3, 1]


def test_cell_exceedance_setting_picks_where_cells_are_tested_one_sidedly() -> None:
    from perception.fitting import FitOptions, _exceedance
    from vigil.core.config import DetectionConfig

    class Stage:
        def __init__(self, detector: object | None) -> None:
            self.detector = detector

    blobs, detector = Stage(None), Stage(object())
    assert not _exceedance(FitOptions(), DetectionConfig(), blobs)  # off by default
    auto = DetectionConfig(cell_exceedance="auto")
    assert _exceedance(FitOptions(), auto, blobs) and _exceedance(FitOptions(), auto, None)
    assert not _exceedance(FitOptions(), auto, detector)
    assert _exceedance(FitOptions(), DetectionConfig(cell_exceedance=True), detector)
    assert not _exceedance(FitOptions(exceedance=False), DetectionConfig(cell_exceedance=True), detector)


def test_a_bad_cell_exceedance_value_names_the_allowed_ones() -> None:
    from vigil.core.config import DetectionConfig

    with pytest.raises(ValueError, match="not one of: true, false, auto"):
        DetectionConfig(cell_exceedance="maybe")
