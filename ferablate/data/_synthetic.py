"""Synthetic FER-like faces: the embedded default data set, so ferablate runs with no download.

Each face is drawn procedurally at 48x48: an identity (face shape, skin and background tone,
hair line, eye spacing, feature darkness), a pose (position, scale, in-plane rotation), a
lighting gradient and sensor noise, all random; the class is carried only by the facial
geometry (brows, eyes, mouth), scaled by a random expression intensity so weak expressions
drift towards neutral, the way real ones do. Every class is left/right symmetric or, for
disgust, asymmetric to a random side, so a horizontal flip never changes the label.

Rendering is whole-array numpy with anti-aliased shapes: faces are drawn upright in a
canonical frame, one band of rows per feature, then posed by a single bilinear warp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ferablate.config import NUM_CLASSES, DataConfig
from ferablate.data._facedata import IMAGE_SIZE, USAGES, FaceData

__all__ = [
    "FER2013_TRAINING_COUNTS",
    "class_counts",
    "load_synthetic",
    "synthetic_faces",
    "synthetic_fingerprint",
]

GENERATOR_VERSION = 1  # part of the content hash: bump whenever the drawing changes
FER2013_TRAINING_COUNTS = (3995, 436, 4097, 7215, 4830, 3171, 4965)  # class mix to imitate
_TEST_FRACTION = 8  # each synthetic test split holds synthetic_size // 8 faces
_RENDER_CHUNK = 1024  # faces rendered per step: bounds the (faces, 48, 48) temporaries


@dataclass(frozen=True)
class _Expression:
    """How a class moves the face away from neutral (face units: half face width = 1, v down)."""

    brow_inner: float = 0.0  # vertical shift of the brow's inner end (< 0 raises)
    brow_outer: float = 0.0  # vertical shift of the brow's outer end
    eye_open: float = 0.0  # change of the eye opening, relative (0.5 = 50 % wider)
    mouth_corners: float = 0.0  # vertical shift of the mouth corners (< 0: smile)
    mouth_open: float = 0.0  # half-height of the open mouth
    mouth_width: float = 0.0  # change of the mouth's half-width
    lip_raise: float = 0.0  # one-sided raise of the upper lip (disgust's sneer)
    wrinkle: float = 0.0  # darkness of the nose wrinkles


_EXPRESSIONS = (  # indexed by label, in CLASS_NAMES order
    _Expression(brow_inner=0.13, brow_outer=-0.04, eye_open=-0.45, mouth_width=-0.08),  # angry
    _Expression(  # disgust
        brow_inner=0.1,
        brow_outer=0.06,
        eye_open=-0.35,
        mouth_corners=0.03,
        mouth_open=0.04,
        mouth_width=-0.02,
        lip_raise=0.15,
        wrinkle=1.0,
    ),
    _Expression(  # fear
        brow_inner=-0.14,
        brow_outer=-0.08,
        eye_open=0.5,
        mouth_corners=0.04,
        mouth_open=0.06,
        mouth_width=0.07,
    ),
    _Expression(  # happy
        brow_inner=-0.02,
        brow_outer=-0.02,
        eye_open=-0.2,
        mouth_corners=-0.2,
        mouth_open=0.035,
        mouth_width=0.06,
    ),
    _Expression(  # sad
        brow_inner=-0.13,
        brow_outer=0.04,
        eye_open=-0.2,
        mouth_corners=0.15,
        mouth_width=-0.03,
    ),
    _Expression(  # surprise
        brow_inner=-0.16,
        brow_outer=-0.15,
        eye_open=0.7,
        mouth_open=0.17,
        mouth_width=-0.16,
    ),
    _Expression(),  # neutral
)
_FIELDS = tuple(_Expression.__dataclass_fields__)
_EXPRESSION_TABLE = np.array(  # (7, fields)
    [[getattr(expression, name) for name in _FIELDS] for expression in _EXPRESSIONS],
    dtype=np.float32,
)
_SPREAD = _Expression(  # per-face standard deviation of each field around its class value
    brow_inner=0.025,
    brow_outer=0.025,
    eye_open=0.12,
    mouth_corners=0.025,
    mouth_open=0.012,
    mouth_width=0.025,
    lip_raise=0.02,
    wrinkle=0.15,
)
_SPREAD_ROW = np.array([getattr(_SPREAD, name) for name in _FIELDS], dtype=np.float32)


def class_counts(n: int) -> np.ndarray:
    """Faces per class for ``n`` faces in FER2013's Training proportions (largest remainder).

    Every class gets at least one face when ``n >= 7``.
    """
    shares = np.asarray(FER2013_TRAINING_COUNTS, dtype=np.float64)
    exact = n * shares / shares.sum()
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    if n >= NUM_CLASSES:
        while (counts == 0).any():  # take from the class most above its share, never below 1
            surplus = np.where(counts > 1, counts - exact, -np.inf)
            counts[np.argmax(surplus)] -= 1
            counts[np.argmin(counts)] += 1
    return counts


def synthetic_faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic faces (n, 48, 48) uint8 and their labels (n,) int64; same seed, same faces."""
    return _draw(n, np.random.default_rng(_entropy(seed)))


def load_synthetic(cfg: DataConfig) -> FaceData:
    """Training = ``cfg.synthetic_size`` faces; PublicTest and PrivateTest 1/8 of it each."""
    sizes = (
        cfg.synthetic_size,
        cfg.synthetic_size // _TEST_FRACTION,
        cfg.synthetic_size // _TEST_FRACTION,
    )
    parts = [synthetic_faces(sizes[0], cfg.seed)]  # Training is exactly synthetic_faces(size, seed)
    for index in (1, 2):  # distinct streams for the test splits
        parts.append(_draw(sizes[index], np.random.default_rng([_entropy(cfg.seed), index])))
    return FaceData(
        images=np.concatenate([images for images, _ in parts]),
        labels=np.concatenate([labels for _, labels in parts]),
        usage=np.repeat(np.asarray(USAGES), sizes),
        source=f"synthetic faces (seed {cfg.seed}, {cfg.synthetic_size} training)",
        content_hash=synthetic_fingerprint(cfg),
    )


def synthetic_fingerprint(cfg: DataConfig) -> str:
    """The content hash of synthetic faces: the generator's version and settings."""
    return f"synthetic-v{GENERATOR_VERSION}-{cfg.seed}-{cfg.synthetic_size}"


def _entropy(seed: int) -> int:
    return seed % 2**64  # SeedSequence takes non-negative ints only


def _draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.permutation(np.repeat(np.arange(NUM_CLASSES), class_counts(n)))
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)  # (N, 48, 48)
    for start in range(0, n, _RENDER_CHUNK):
        chunk = labels[start : start + _RENDER_CHUNK]
        images[start : start + chunk.size] = _render(chunk, rng)
    return images, labels.astype(np.int64)


def _render(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one face per label; returns (N, 48, 48) uint8.

    Faces are drawn upright in a canonical frame, where each feature only touches a band of
    rows (so its arithmetic runs on that band alone), then posed by one affine warp.
    """
    n = labels.size
    f32 = np.float32

    def uniform(low: float, high: float) -> np.ndarray:
        return rng.uniform(low, high, size=(n, 1, 1)).astype(f32)  # per face, broadcastable

    def normal(scale: float) -> np.ndarray:
        return rng.standard_normal(size=(n, 1, 1), dtype=f32) * f32(scale)

    # Expression: class values scaled by a random intensity, plus per-face spread.
    intensity = rng.uniform(0.6, 1.0, size=(n, 1)).astype(f32)
    spread = rng.standard_normal(size=(n, len(_FIELDS)), dtype=f32) * _SPREAD_ROW
    values = (_EXPRESSION_TABLE[labels] * intensity + spread).reshape(n, len(_FIELDS), 1, 1)
    expression = {name: values[:, index] for index, name in enumerate(_FIELDS)}  # each (N, 1, 1)
    side = np.where(rng.random(size=(n, 1, 1)) < 0.5, -1, 1).astype(f32)  # disgust's sneer side

    # Identity: tones, face shape, hair.
    background, skin = uniform(0.05, 0.95), uniform(0.35, 0.85)
    u = _CANON_U  # (1, 1, W) face units; v per band of rows, (1, h, 1)
    rows, v = _band(-2.0, 2.0)
    aspect = uniform(1.15, 1.35)
    face = _cover(np.sqrt(u**2 + (v / aspect) ** 2) - 1.0)  # (N, H, W)
    canvas = background + (skin - background) * face
    hair_line = uniform(-1.0, -0.72)
    has_hair = rng.random(size=(n, 1, 1)) < 0.7
    rows, v = _band(-1.4, -0.7)
    hair = _cover(v - hair_line) * face[:, rows] * has_hair
    _paint(canvas[:, rows], hair, skin * uniform(0.1, 0.5))

    # Nose: a soft shadow, two nostrils and (disgust) wrinkles beside it.
    rows, v = _band(-0.1, 0.4)
    au = np.abs(u)  # mirror-symmetric features are drawn once for both sides
    _paint(canvas[:, rows], 0.35 * _cover(_segment(u, v, 0.0, -0.05, 0.0, 0.28) - 0.03), skin * 0.7)
    _paint(
        canvas[:, rows], _cover(np.sqrt((au - 0.07) ** 2 + (v - 0.32) ** 2) - 0.035), skin * 0.45
    )
    wrinkles = _cover(_segment(au, v, 0.07, 0.0, 0.18, 0.1) - 0.03) * np.clip(
        expression["wrinkle"], 0.0, 1.0
    )
    _paint(canvas[:, rows], wrinkles, skin * 0.5)

    # Eyes: bright sclera ellipse with a dark outline and iris; the opening carries expression.
    eye_x, eye_y = 0.36 + normal(0.025), -0.12 + normal(0.03)
    eye_w = 0.15 + normal(0.01)
    eye_h = 0.075 * np.clip(1.0 + expression["eye_open"], 0.25, 2.4)
    rows, v = _band(-0.5, 0.25)
    area = canvas[:, rows]
    radial = np.sqrt(((au - eye_x) / eye_w) ** 2 + ((v - eye_y) / eye_h) ** 2)
    eye_sd = (radial - 1.0) * np.minimum(eye_w, eye_h)  # approximate signed distance
    eye = _cover(eye_sd)
    _paint(area, eye, np.minimum(skin + 0.3, 1.0))
    gaze = normal(0.02)
    iris = _cover(np.sqrt((au - eye_x - gaze) ** 2 + (v - eye_y) ** 2) - 0.065) * eye
    _paint(area, iris, uniform(0.03, 0.25))
    _paint(area, _cover(np.abs(eye_sd) - 0.02), skin * 0.35)

    # Brows: thick segments; their heights and slant carry expression.
    brow_y = eye_y - 0.25 + normal(0.02)
    rows, v = _band(-0.9, 0.0)
    inner, outer = brow_y + expression["brow_inner"], brow_y + expression["brow_outer"]
    brow = _segment(au, v, 0.13, inner, 0.6, outer)
    _paint(canvas[:, rows], _cover(brow - uniform(0.035, 0.06)), skin * uniform(0.15, 0.5))

    # Mouth: a lip line whose corners rise or fall, opened into a dark lens, sneered on one side.
    mouth_y = 0.55 + normal(0.035)
    half_width = np.clip(0.3 + expression["mouth_width"], 0.08, 0.5)
    t = np.clip(u / half_width, -1.0, 1.0)  # position along the mouth, -1..1; (N, 1, W)
    sneer = expression["lip_raise"] * np.clip(side * t, 0.0, 1.0) ** 1.5  # one side only
    centre_line = mouth_y + expression["mouth_corners"] * t**2 - sneer
    beyond = np.maximum(np.abs(u) - half_width, 0.0)  # (N, 1, W)
    rows, v = _band(0.1, 1.0)
    area = canvas[:, rows]
    offset = np.abs(v - centre_line)  # (N, h, W)
    lips = _cover(np.sqrt(beyond**2 + offset**2) - uniform(0.035, 0.055))
    _paint(area, lips, skin * uniform(0.3, 0.6))
    opening = np.maximum(expression["mouth_open"], 0.0) * (1.0 - t**2)  # (N, 1, W)
    inside = np.where(beyond > 0, f32(1.0), offset - opening)
    _paint(area, _cover(inside) * (opening > 0.005), skin * 0.12)

    # Pose (position, scale, in-plane rotation), then lighting gradient and noise.
    image = _warp(
        canvas,
        centre_x=24 + uniform(-2.5, 2.5),
        centre_y=25 + uniform(-2.5, 2.5),
        scale=uniform(0.85, 1.1),
        angle=np.clip(normal(0.14), -0.35, 0.35),
    )
    gradient, direction = uniform(0.0, 0.3), uniform(0.0, 2 * np.pi)
    x, y = _PIXEL_CENTRES[None, None, :], _PIXEL_CENTRES[None, :, None]
    image *= 1.0 + gradient * ((x - 24) * np.cos(direction) + (y - 24) * np.sin(direction)) / 24
    noise = rng.standard_normal(size=image.shape, dtype=f32)
    noise *= uniform(0.01, 0.06)
    image += noise
    image *= 255.0
    image += 0.5
    return np.clip(image, 0, 255).astype(np.uint8)


_CANON_UNIT = 17.0  # canonical pixels per face unit (half the face width)
_CANON_CENTRE = (24.0, 25.0)  # canonical face centre (x, y) in pixels
_PIXEL_CENTRES = np.arange(IMAGE_SIZE, dtype=np.float32) + 0.5
_CANON_U = ((_PIXEL_CENTRES - _CANON_CENTRE[0]) / _CANON_UNIT).reshape(1, 1, -1)  # (1, 1, W)


def _band(v_low: float, v_high: float) -> tuple[slice, np.ndarray]:
    """The canonical rows spanning face heights v_low..v_high, and their v, (1, h, 1)."""
    low = max(0, int(np.floor(_CANON_CENTRE[1] + v_low * _CANON_UNIT)))
    high = min(IMAGE_SIZE, int(np.ceil(_CANON_CENTRE[1] + v_high * _CANON_UNIT)) + 1)
    v = (_PIXEL_CENTRES[low:high] - _CANON_CENTRE[1]) / _CANON_UNIT
    return slice(low, high), v.reshape(1, -1, 1)


def _cover(distance: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of the region where a signed distance (face units) is < 0."""
    coverage = distance * np.float32(-_CANON_UNIT)
    coverage += 0.5
    return np.clip(coverage, 0.0, 1.0, out=coverage)


def _paint(area: np.ndarray, coverage: np.ndarray, tone: np.ndarray | float) -> None:
    """Blend ``tone`` into ``area`` (a view of the canvas) in place, by ``coverage``."""
    blend = tone - area
    blend *= coverage
    area += blend


def _segment(
    u: np.ndarray,
    v: np.ndarray,
    u0: float,
    v0: np.ndarray | float,
    u1: float,
    v1: np.ndarray | float,
) -> np.ndarray:
    """Distance from each point (u, v) to the segment (u0, v0)-(u1, v1)."""
    du, dv = u1 - u0, np.asarray(v1, dtype=np.float32) - np.asarray(v0, dtype=np.float32)
    along = ((u - u0) * du + (v - v0) * dv) / (du**2 + dv**2)
    np.clip(along, 0.0, 1.0, out=along)
    return np.sqrt((u - u0 - along * du) ** 2 + (v - v0 - along * dv) ** 2)


def _warp(
    canvas: np.ndarray,
    centre_x: np.ndarray,
    centre_y: np.ndarray,
    scale: np.ndarray,
    angle: np.ndarray,
) -> np.ndarray:
    """Pose canonical faces: bilinear sampling, edges clamped; all parameters (N, 1, 1)."""
    n = canvas.shape[0]
    x, y = _PIXEL_CENTRES[None, None, :] - centre_x, _PIXEL_CENTRES[None, :, None] - centre_y
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    source_x = x * cos + y * sin + (_CANON_CENTRE[0] - 0.5)  # (N, H, W), in pixel indices
    source_y = y * cos - x * sin + (_CANON_CENTRE[1] - 0.5)
    np.clip(source_x, 0.0, IMAGE_SIZE - 1.0, out=source_x)
    np.clip(source_y, 0.0, IMAGE_SIZE - 1.0, out=source_y)
    left = np.minimum(source_x.astype(np.int32), IMAGE_SIZE - 2)
    top = np.minimum(source_y.astype(np.int32), IMAGE_SIZE - 2)
    fx, fy = source_x - left, source_y - top
    faces = np.arange(n, dtype=np.int32).reshape(n, 1, 1) * np.int32(IMAGE_SIZE * IMAGE_SIZE)
    index = faces + top * np.int32(IMAGE_SIZE) + left  # (N, H, W) into the flattened canvas
    flat = canvas.reshape(-1)

    def sample(offset: int) -> np.ndarray:
        return np.take(flat, index + np.int32(offset))

    upper = sample(0)
    upper += (sample(1) - upper) * fx
    lower = sample(IMAGE_SIZE)
    lower += (sample(IMAGE_SIZE + 1) - lower) * fx
    upper += (lower - upper) * fy
    return upper
