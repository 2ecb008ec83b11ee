"""A trained scene classifier as an ONNX model for the edge: export, check, size and latency.

The model takes ``features`` (float32, ``(batch, d)``) and gives ``label`` (int64, the cluster id
of each row) and ``probabilities`` (float32, ``(batch, n_classes)``, columns in the order of the
``class_ids`` metadata). Its metadata (``metadata_props``, read by onnxruntime's
``get_modelmeta().custom_metadata_map``) holds ``class_ids`` and ``class_names`` (JSON lists, in
column order) and how it was made. The conversion (skl2onnx) is fixed - graph name, opsets - so the
same trained model gives the same bytes.

Every exported model is checked against the scikit-learn model it came from with onnxruntime:
the same predicted class and probabilities within :data:`TOLERANCE`. Size is the bytes of the
file; latency is one clip's features through onnxruntime on one CPU thread (an edge device's
budget), the median of many runs after a warm-up.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass

import numpy as np

INPUT_NAME = "features"
LABEL_OUTPUT, PROBABILITIES_OUTPUT = "label", "probabilities"
GRAPH_NAME = "auditoryhum_scene_classifier"
#: Opsets every onnxruntime since 1.16 (2023) runs, including its mobile builds.
TARGET_OPSET = {"": 21, "ai.onnx.ml": 3}
#: Largest difference allowed between an exported model's probabilities and the trained model's.
TOLERANCE = 1e-5
WARMUP_RUNS = 10


def to_onnx(classifier, n_features: int, metadata: dict[str, str], description: str) -> bytes:
    """The serialised ONNX model of a trained scikit-learn classifier (a pipeline ending in one),
    probabilities as a plain tensor, ``metadata`` in its ``metadata_props``."""
    import onnx
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    head = classifier.steps[-1][1] if hasattr(classifier, "steps") else classifier
    model = convert_sklearn(classifier, initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
                            options={id(head): {"zipmap": False}}, name=GRAPH_NAME, target_opset=TARGET_OPSET)
    onnx.helper.set_model_props(model, metadata)
    model.doc_string = description
    return model.SerializeToString()


def class_metadata(class_ids, class_names) -> dict[str, str]:
    return {"class_ids": json.dumps([int(c) for c in class_ids]),
            "class_names": json.dumps(list(class_names), ensure_ascii=False)}


def session(model: bytes | str):
    """An onnxruntime CPU session on one thread, as an edge device would run the model."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings from graph optimisation are not the user's business
    return onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def run(model_session, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probabilities) of ``features`` through the ONNX model."""
    labels, probabilities = model_session.run([LABEL_OUTPUT, PROBABILITIES_OUTPUT],
                                              {INPUT_NAME: np.ascontiguousarray(features, dtype=np.float32)})
    return labels, probabilities


@dataclass(frozen=True)
class Agreement:
    """How an exported model's answers compare with the trained model's on the same rows."""

    rows: int
    max_difference: float  # largest |p_onnx - p_trained| over rows and classes
    label_disagreements: int  # rows whose predicted class differs, ties within TOLERANCE aside

    @property
    def agrees(self) -> bool:
        return self.max_difference <= TOLERANCE and self.label_disagreements == 0

    def merged(self, other: "Agreement") -> "Agreement":
        return Agreement(self.rows + other.rows, max(self.max_difference, other.max_difference),
                         self.label_disagreements + other.label_disagreements)


def compare(model: bytes, classifier, features: np.ndarray) -> Agreement:
    """The exported ``model`` against the trained ``classifier`` on ``features``. The trained model
    computes in float64, the ONNX model in float32, so a row whose two best classes are within
    :data:`TOLERANCE` of each other may legitimately pick either: it is not counted as a disagreement
    (its probabilities are still held to the tolerance)."""
    labels, probabilities = run(session(model), features)
    expected = classifier.predict_proba(features)
    expected_labels = classifier.predict(features)
    top_two = np.sort(expected, axis=1)[:, -2:]
    tie = (top_two[:, 1] - top_two[:, 0]) <= TOLERANCE
    return Agreement(rows=len(features), max_difference=float(np.abs(probabilities - expected).max()),
                     label_disagreements=int(((labels != expected_labels) & ~tie).sum()))


def median_latency_ms(model: bytes, clip_features: np.ndarray, runs: int) -> float:
    """Median wall time of one clip's features through the model, in milliseconds (one thread,
    after :data:`WARMUP_RUNS` runs that are not counted)."""
    model_session = session(model)
    one_clip = np.ascontiguousarray(clip_features.reshape(1, -1), dtype=np.float32)
    for _ in range(WARMUP_RUNS):
        run(model_session, one_clip)
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        run(model_session, one_clip)
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1e6
