"""Object detectors: one registry, one interface, one set of class groups.

A :class:`Detector` turns frames into :class:`supervision.Detections` (pixel boxes in the frame
it was given, a confidence, a class id and, in ``data``, the probability of each class group),
which the one tracker (:mod:`perception.track.tracking`) follows. Detectors are chosen by name
(``get_detector("yolov3-tiny")``); heavy ones import their dependencies only when built.

===============  ============================================================================
``yolov3-tiny``  embedded default: YOLOv3-tiny (COCO-80) on ONNX Runtime, weights from
                 the model cache (``vigil models pull``), sha256-checked (:mod:`.yolo`)
``yolo11n``     optional: Ultralytics YOLO11n (COCO-80) on ONNX Runtime, stronger on small, far
                 objects; weights licensed AGPL-3.0, fetched only by ``vigil models pull
                 yolo11n`` (:mod:`.yolo11`)
``blobs``        foreground blobs against the camera's learned background, no classes; for
                 cameras no detector fits (thermal, top-down) and for tests (:mod:`.blobs`)
``ultralytics``  an Ultralytics YOLO model from a local weights file (``pip install
                 'vigil[detect]'``) (:mod:`.external`)
``rfdetr``       an RF-DETR model from a local weights file (``pip install 'vigil[detect]'``)
===============  ============================================================================

Class groups say what an object is for the rules and the normality model, whatever the
detector's own class list: ``person``; ``wheeled`` (bicycle, motorcycle, skateboard, car, truck,
bus, train); ``carried`` (backpack, handbag, suitcase, umbrella); ``animal``; ``other`` (any
other class); ``unknown`` (a foreground blob no detector named). A detector can be wrong about
the class (a skateboarder called a horse); the groups keep the error inside "not a person".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from vigil.core.registry import Registry

GROUPS: tuple[str, ...] = ("person", "wheeled", "carried", "animal", "other", "unknown")
#: COCO (and common aliases) class names -> group; names not listed are ``other``
CLASS_GROUPS: dict[str, str] = {
    "person": "person", "pedestrian": "person", "people": "person",
    **{n: "wheeled" for n in ("bicycle", "motorcycle", "motorbike", "skateboard", "car", "truck", "bus", "train",
                              "scooter", "wheelchair", "cart", "stroller")},
    **{n: "carried" for n in ("backpack", "handbag", "suitcase", "umbrella", "bag", "luggage")},
    **{n: "animal" for n in ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe")},
}


def group_of(name: str) -> str:
    """The class group of a detector class name."""
    return CLASS_GROUPS.get(name.strip().lower(), "other")


def group_matrix(classes: Sequence[str]) -> np.ndarray:
    """``(n_classes, n_groups)`` 0/1 map from a detector's classes to :data:`GROUPS`."""
    m = np.zeros((len(classes), len(GROUPS)), np.float32)
    for i, name in enumerate(classes):
        m[i, GROUPS.index(group_of(name))] = 1.0
    return m


def group_probabilities(class_probs: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Per detection, each group's probability: the most likely class of the group.

    Args:
        class_probs: ``(N, n_classes)`` class probabilities (YOLO's are independent sigmoids).
        matrix: :func:`group_matrix` of the detector's classes.
    """
    if class_probs.size == 0:
        return np.zeros((0, len(GROUPS)), np.float32)
    return (class_probs[:, :, None] * matrix[None]).max(axis=1).astype(np.float32)


def empty_detections() -> Any:
    """An empty :class:`supervision.Detections` with the fields the tracker expects."""
    from supervision import Detections

    return Detections(xyxy=np.zeros((0, 4), np.float32), confidence=np.zeros(0, np.float32),
                      class_id=np.zeros(0, int), data={"groups": np.zeros((0, len(GROUPS)), np.float32)})


def make_detections(xyxy: np.ndarray, confidence: np.ndarray, class_id: np.ndarray, groups: np.ndarray,
                    named: np.ndarray | None = None) -> Any:
    """A :class:`supervision.Detections` with group probabilities in ``data["groups"]`` and, in
    ``data["named"]``, the class that names each object (its own class, or for someone riding,
    the bicycle's; ``-1``: none)."""
    from supervision import Detections

    if len(xyxy) == 0:
        return empty_detections()
    cls = np.asarray(class_id, int)
    return Detections(xyxy=np.asarray(xyxy, np.float32).reshape(-1, 4), confidence=np.asarray(confidence, np.float32),
                      class_id=cls, data={"groups": np.asarray(groups, np.float32),
                                          "named": np.asarray(cls if named is None else named, int)})


class Detector(ABC):
    """Finds objects in frames.

    Detectors that learn from the camera's normal footage (the blob detector's background)
    override :meth:`fit`; their :meth:`state` then carries what they learned into the profile.
    """

    #: registry name
    name: str = ""
    #: class names, in class-id order (``()`` for class-free detectors)
    classes: tuple[str, ...] = ()

    @abstractmethod
    def detect(self, images: Sequence[np.ndarray]) -> list[Any]:
        """One :class:`supervision.Detections` per RGB image, boxes in that image's pixels."""

    def fit(self, frames: Iterable[np.ndarray]) -> None:  # noqa: B027 - optional hook
        """Learn from normal frames (RGB) what detection needs."""

    def state(self) -> dict[str, Any]:
        """Settings plus arrays to rebuild the detector (saved in profiles)."""
        return {"name": self.name, "config": {}, "arrays": {}}

    @classmethod
    def from_state(cls, state: dict[str, Any], **runtime: Any) -> Detector:
        """Rebuild a detector saved with :meth:`state` (``runtime``: e.g. the model cache)."""
        return cls(**state.get("config", {}), **runtime)


def _load_builtins() -> None:
    # importing the modules registers them; the external backends import their packages lazily
    from perception.detect import blobs, external, yolo, yolo11  # noqa: F401


#: the detectors, by name (unknown names raise ``ValueError`` naming the known ones)
DETECTORS: Registry[Detector] = Registry("detector", ValueError, builtins=_load_builtins)
#: class decorator adding a detector to the registry under ``name``
register_detector = DETECTORS.register
#: names of the registered detectors
detector_names = DETECTORS.names
#: the class registered as ``name``; raises ``ValueError`` naming the known ones
detector_class = DETECTORS.get


def get_detector(name: str, **config: Any) -> Detector:
    """Build the detector registered as ``name`` with ``config``."""
    return detector_class(name)(**config)
