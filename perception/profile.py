"""A camera's fitted profile: encoder state, normality model, Engram memory, type head.

Saved under ``<data_dir>/<camera>/profile/`` as ``profile.json`` (settings, readable),
``arrays.npz`` (numbers) and, for a learned frame scorer, ``scorer.pt`` (its weights). Loading
checks the format version and names what is wrong.
"""

from __future__ import annotations

import json
import os
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perception.detect import detector_class, detector_names
from perception.detect.blobs import BlobDetector
from perception.encoders import Encoder, encoder_class, encoder_names
from perception.encoders.motion import MotionEncoder

# from the package, not perception.score.frame_scorer: importing it registers every built-in scorer,
# so a saved one restores by name
from perception.learned import FrameScorer
from perception.score.engram import EngramMemory
from perception.score.head import TypeHead
from perception.score.scoring import NormalityModel
from perception.track.norms import BlobNorms, TrackNorms
from perception.track.objects import ObjectNormality, ObjectStage, StageSettings
from perception.track.tracking import PersonScale, TrackerSettings
from vigil.core.errors import UnknownCameraError, VigilError

PROFILE_FORMAT = 2  # 2: learned foreground thresholds, the object path
SCORER_WEIGHTS = "scorer.pt"  # a learned frame scorer's weights, next to profile.json
LOCK_NAME = "profile.lock"  # held while the profile is written, by any process


def profile_lock(folder: str | Path) -> Any:
    """The lock every process holds while it writes the profile in ``folder`` (reentrant in a thread)."""
    from filelock import FileLock

    return FileLock(Path(folder) / LOCK_NAME, is_singleton=True)


def add_engram_counts(folder: str | Path, camera_id: str, codebook: np.ndarray,
                      learned: dict[int, list[int]]) -> dict[int, list[int]] | None:
    """Add the Engram counts a run learned to the profile saved in ``folder``, and save it.

    The saved profile is read again under its lock, so what other runs learned and saved
    meanwhile (two watches of one camera) is kept, and so is a profile fitted anew since; counts
    for another codebook (the camera was refitted) are dropped.

    Args:
        learned: n-gram key -> ``[normal, anomaly]`` counts added by the run.

    Returns:
        The saved profile's counts after the addition, or ``None`` if nothing was added.
    """
    with profile_lock(folder):
        saved = CameraProfile.load(folder, camera_id)
        if saved.engram is None or not np.array_equal(saved.engram.codebook, codebook):
            return None
        for key, (normal, anomaly) in learned.items():
            entry = saved.engram.counts.setdefault(key, [0, 0])
            entry[0] += normal
            entry[1] += anomaly
        saved.save(folder)
        return saved.engram.counts


class ProfileError(VigilError):
    """A profile that cannot be used (damaged, from another format, wrong encoder)."""


@dataclass
class CameraProfile:
    """Everything needed to score a camera's footage."""

    camera_id: str
    encoder_state: dict[str, Any]
    encoder_version: str
    scorer: NormalityModel
    fps: float
    window: int
    stride: int
    frame_width: int
    engram: EngramMemory | None = None
    head: TypeHead | None = None
    videos: list[str] = field(default_factory=list)
    n_windows: int = 0
    created: str = ""
    scene_state: dict[str, Any] | None = None  # motion model for scene facts (when the encoder is not motion)
    # the object path (None when fitted without a detector)
    detector_state: dict[str, Any] | None = None   # the detector's name, settings and learned arrays
    blob_state: dict[str, Any] | None = None       # the blob detector that explains the rest of the foreground
    person_scale: list[float] | None = None        # PersonScale: a standing person's height per feet row
    objects: ObjectNormality | None = None         # normality of tracked objects
    stage: dict[str, Any] | None = None            # StageSettings + TrackerSettings at fit time
    fused_calibration: tuple[float, float] | None = None  # Calibration of the fused cell and object levels
    object_calibration: tuple[float, float] | None = None  # Calibration of the object level alone
    track_norms: TrackNorms | None = None          # the normal tracks' statistics (rule confidences)
    blob_norms: BlobNorms | None = None            # the normal blob tracks' statistics (blob rules' confidences)
    # a learned frame scorer (aedmae, framepred) that gives the score in place of the cell scorer
    frame_scorer: FrameScorer | None = None
    frame_calibration: tuple[float, float] | None = None  # Calibration of its raw frame scores
    training: list[dict[str, Any]] = field(default_factory=list)  # the frame scorer's training reports

    @property
    def scorer_name(self) -> str:
        """What gives the score: the frame scorer's name, else the cell scorer's kind (knn, gaussian)."""
        return self.frame_scorer.name if self.frame_scorer is not None else self.scorer.kind

    @property
    def encoder_name(self) -> str:
        """Registry name of the encoder the profile was fitted with."""
        return str(self.encoder_state["name"])

    def build_encoder(self) -> Encoder:
        """A fresh encoder in the fitted state."""
        return encoder_class(self.encoder_name).from_state(self.encoder_state)

    @property
    def detector_name(self) -> str:
        """The detector the profile was fitted with (``none`` without an object path)."""
        return str(self.detector_state["name"]) if self.detector_state else "none"

    def build_object_stage(self, models_dir: str | Path | None = None, detector: bool = True) -> ObjectStage | None:
        """The object path in its fitted state, or ``None`` without one.

        Args:
            models_dir: the model cache (for detectors with weights files).
            detector: ``False`` leaves the detector out (blobs only), e.g. to measure its cost.
        """
        if self.objects is None or self.detector_state is None:
            return None
        det = None
        if detector and self.detector_state["name"] != "blobs":
            det = detector_class(self.detector_state["name"]).from_state(self.detector_state, models_dir=models_dir)
        blobs = BlobDetector.from_state(self.blob_state) if self.blob_state else None
        if self.detector_state["name"] == "blobs":
            blobs = BlobDetector.from_state(self.detector_state)
        stage = dict(self.stage or {})
        # profiles fitted before tracks were carried between looks: as they were fitted
        stage.setdefault("carry", False)
        stage.setdefault("blob_flagged_fps", stage.get("flagged_fps", 8.0))
        tracker = TrackerSettings(**stage.pop("tracker", {}))
        if "region" in stage:
            stage["region"] = tuple(float(v) for v in stage["region"])
        return ObjectStage(det, blobs, StageSettings(**stage), tracker)

    def scale(self) -> PersonScale:
        """The person scale of the object path (a flat default without one)."""
        return PersonScale.from_list(self.person_scale)

    def build_scene_encoder(self) -> MotionEncoder | None:
        """The motion model that scene facts use (the encoder itself for motion profiles)."""
        state = self.encoder_state if self.encoder_name == "motion" else self.scene_state
        return MotionEncoder.from_state(state) if state else None

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> Path:
        """Write the profile (atomically: a crash leaves the previous one intact), holding its
        lock: another process may be saving this camera's profile too."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with profile_lock(folder):
            return self._write(folder)

    def _write(self, folder: Path) -> Path:
        arrays: dict[str, np.ndarray] = {}
        for prefix, part in (
            ("encoder", self.encoder_state.get("arrays", {})),
            ("scorer", self.scorer.arrays()),
            ("engram", self.engram.arrays() if self.engram else {}),
            ("head", self.head.arrays() if self.head else {}),
            ("scene", (self.scene_state or {}).get("arrays", {})),
            ("detector", (self.detector_state or {}).get("arrays", {})),
            ("blobs", (self.blob_state or {}).get("arrays", {})),
            ("objects", self.objects.arrays() if self.objects else {}),
            ("norms", self.track_norms.arrays() if self.track_norms else {}),
            ("blob_norms", self.blob_norms.arrays() if self.blob_norms else {}),
        ):
            for key, value in part.items():
                arrays[f"{prefix}/{key}"] = np.asarray(value)
        meta = {
            "format": PROFILE_FORMAT,
            "camera_id": self.camera_id,
            "created": self.created,
            "encoder": {"name": self.encoder_name, "version": self.encoder_version, "config": self.encoder_state.get("config", {})},
            "scorer": self.scorer.settings(),
            "engram": self.engram.settings() if self.engram else None,
            "head": self.head.settings() if self.head else None,
            "sampling": {"fps": self.fps, "window": self.window, "stride": self.stride, "frame_width": self.frame_width},
            "videos": self.videos,
            "n_windows": self.n_windows,
            "scene": {"config": self.scene_state.get("config", {})} if self.scene_state else None,
            "detector": ({"name": self.detector_state["name"], "config": self.detector_state.get("config", {})}
                         if self.detector_state else None),
            "blobs": {"config": self.blob_state.get("config", {})} if self.blob_state else None,
            "person_scale": self.person_scale,
            "objects": self.objects.settings() if self.objects else None,
            "stage": self.stage,
            "fused_calibration": list(self.fused_calibration) if self.fused_calibration else None,
            "object_calibration": list(self.object_calibration) if self.object_calibration else None,
            "track_norms": self.track_norms.settings() if self.track_norms else None,
            "blob_norms": self.blob_norms.settings() if self.blob_norms else None,
        }
        if self.frame_scorer is not None:
            self.frame_scorer.save(folder / SCORER_WEIGHTS)
            meta["frame_scorer"] = {**self.frame_scorer.settings(), "calibration": list(self.frame_calibration or ()),
                                    "training": self.training}
        # temporary names of this save's own, so two saves never rename each other's files
        tmp_npz = folder / f"arrays.{os.getpid()}-{threading.get_ident()}.tmp.npz"
        tmp_json = folder / f"profile.json.{os.getpid()}-{threading.get_ident()}.tmp"
        try:
            np.savez_compressed(tmp_npz, **arrays)
            tmp_json.write_text(json.dumps(meta, indent=1), encoding="utf-8")
        except BaseException:
            # a full disk (or an interrupt): the saved profile stays as it was, without half-written files
            tmp_npz.unlink(missing_ok=True)
            tmp_json.unlink(missing_ok=True)
            raise
        os.replace(tmp_npz, folder / "arrays.npz")
        os.replace(tmp_json, folder / "profile.json")
        return folder

    @classmethod
    def load(cls, folder: str | Path, camera_id: str | None = None) -> CameraProfile:
        """Read a saved profile.

        Args:
            folder: the profile's folder.
            camera_id: the camera it is loaded for; a profile copied from another camera takes
                this name, so its windows, events and alerts are stored under the camera that saw them.

        Raises:
            UnknownCameraError: no profile in ``folder``.
            ProfileError: damaged or from an incompatible format.
        """
        folder = Path(folder)
        meta_path = folder / "profile.json"
        if not meta_path.is_file():
            who = f"camera {camera_id!r}" if camera_id else str(folder)
            raise UnknownCameraError(f"{who} has no fitted profile; run: vigil fit --camera {camera_id or 'NAME'} --normal VIDEO ...")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(folder / "arrays.npz") as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
            # a truncated or overwritten file: json, zip and zlib each fail their own way
            detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise ProfileError(f"{folder}: damaged profile ({detail}); fit the camera again") from None
        if not isinstance(meta, dict) or meta.get("format") != PROFILE_FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise ProfileError(f"{folder}: profile format {found} is not supported (expected {PROFILE_FORMAT}); fit the camera again")
        try:
            _check_parts(meta, folder)
            profile = cls._restore(meta, arrays, camera_id)
            learned = meta.get("frame_scorer")
            if learned:
                profile.frame_scorer = FrameScorer.restore(learned, folder / SCORER_WEIGHTS)
                profile.frame_calibration = tuple(learned["calibration"])  # type: ignore[assignment]
                profile.training = list(learned.get("training", []))
            return profile
        except VigilError as exc:
            raise ProfileError(str(exc)) from None
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise ProfileError(f"{folder}: damaged profile (missing or bad {exc}); fit the camera again") from None

    @classmethod
    def _restore(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], camera_id: str | None) -> CameraProfile:
        """Build the profile from its parsed files (raises KeyError/ValueError on missing parts)."""

        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(prefix + "/")}

        enc = meta["encoder"]
        sampling = meta["sampling"]
        return cls(
            camera_id=camera_id or meta["camera_id"],
            encoder_state={"name": enc["name"], "config": enc.get("config", {}), "arrays": part("encoder")},
            encoder_version=enc.get("version", ""),
            scorer=NormalityModel.restore(meta["scorer"], part("scorer")),
            fps=float(sampling["fps"]),
            window=int(sampling["window"]),
            stride=int(sampling["stride"]),
            frame_width=int(sampling["frame_width"]),
            engram=EngramMemory.restore(meta["engram"], part("engram")) if meta.get("engram") else None,
            head=TypeHead.restore(meta["head"], part("head")) if meta.get("head") else None,
            videos=list(meta.get("videos", [])),
            n_windows=int(meta.get("n_windows", 0)),
            created=str(meta.get("created", "")),
            scene_state=({"name": "motion", "config": meta["scene"].get("config", {}), "arrays": part("scene")}
                         if meta.get("scene") else None),
            detector_state=({"name": meta["detector"]["name"], "config": meta["detector"].get("config", {}),
                             "arrays": part("detector")} if meta.get("detector") else None),
            blob_state=({"name": "blobs", "config": meta["blobs"].get("config", {}), "arrays": part("blobs")}
                        if meta.get("blobs") else None),
            person_scale=meta.get("person_scale"),
            objects=ObjectNormality.restore(meta["objects"], part("objects")) if meta.get("objects") else None,
            stage=meta.get("stage"),
            fused_calibration=tuple(meta["fused_calibration"]) if meta.get("fused_calibration") else None,
            object_calibration=tuple(meta["object_calibration"]) if meta.get("object_calibration") else None,
            track_norms=TrackNorms.restore(meta["track_norms"], part("norms")) if meta.get("track_norms") else None,
            blob_norms=BlobNorms.restore(meta["blob_norms"], part("blob_norms")) if meta.get("blob_norms") else None,
        )


def _check_parts(meta: dict[str, Any], folder: Path) -> None:
    """Raise :class:`ProfileError` if the profile names an encoder or detector this Vigil does not
    have: caught when loading, before anything runs (or writes the profile back)."""
    for part, known in (("encoder", encoder_names), ("detector", detector_names)):
        section = meta.get(part)
        if section is None and part == "detector":  # fitted without the object path
            continue
        name = section["name"]
        if name not in known():
            raise ProfileError(f"{folder}: the profile names an unknown {part} {name!r} (this Vigil has: "
                               f"{', '.join(known())}); fit the camera again")
