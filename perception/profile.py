"""A camera's fitted profile: encoder state, normality model, Engram memory, type head.

Saved under ``<data_dir>/<camera>/profile/`` as ``profile.json`` (settings, readable) and
``arrays.npz`` (numbers). Loading checks the format version and names what is wrong.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perception.encoders import Encoder, encoder_class
from perception.encoders.motion import MotionEncoder
from perception.engram import EngramMemory
from perception.head import TypeHead
from perception.scoring import NormalityModel
from vigil.errors import UnknownCameraError, VigilError

PROFILE_FORMAT = 1


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

    @property
    def encoder_name(self) -> str:
        """Registry name of the encoder the profile was fitted with."""
        return str(self.encoder_state["name"])

    def build_encoder(self) -> Encoder:
        """A fresh encoder in the fitted state."""
        return encoder_class(self.encoder_name).from_state(self.encoder_state)

    def build_scene_encoder(self) -> MotionEncoder | None:
        """The motion model that scene facts use (the encoder itself for motion profiles)."""
        state = self.encoder_state if self.encoder_name == "motion" else self.scene_state
        return MotionEncoder.from_state(state) if state else None

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> Path:
        """Write the profile (atomically: a crash leaves the previous one intact)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for prefix, part in (
            ("encoder", self.encoder_state.get("arrays", {})),
            ("scorer", self.scorer.arrays()),
            ("engram", self.engram.arrays() if self.engram else {}),
            ("head", self.head.arrays() if self.head else {}),
            ("scene", (self.scene_state or {}).get("arrays", {})),
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
        }
        tmp_npz = folder / "arrays.tmp.npz"
        np.savez_compressed(tmp_npz, **arrays)
        tmp_json = folder / "profile.json.tmp"
        tmp_json.write_text(json.dumps(meta, indent=1), encoding="utf-8")
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
            return cls._restore(meta, arrays, camera_id)
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
        )
