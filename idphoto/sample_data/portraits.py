"""Procedural synthetic ID-photo portraits: the project's embedded, licence-free sample set.

Every portrait is drawn from a seeded `np.random.Generator`; nothing is downloaded. Heads have
real proportions and soft shading (eye sockets, nose shadow, coloured lips) because that is
what makes detectors such as MTCNN accept them, and the returned landmarks are the true
positions of the drawn features after the pose transform.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Point = tuple[float, float]

# Light to dark, loosely after the Fitzpatrick/Monk skin-tone scales as they photograph.
_SKIN_TONES = np.array(
    [(250, 222, 200), (236, 192, 160), (222, 170, 132), (196, 138, 100),
     (160, 104, 72), (126, 82, 56), (98, 62, 44), (76, 50, 37)], np.float32,
)  # fmt: skip
_HAIR_COLOURS = {
    "black": (24, 20, 18), "dark_brown": (54, 36, 26), "brown": (96, 64, 40),
    "auburn": (118, 54, 30), "blonde": (196, 160, 104), "grey": (140, 138, 134),
    "white": (218, 216, 210),
}  # fmt: skip
_HAIR_STYLES = {"bald": 0.1, "buzz": 0.15, "short": 0.3, "bob": 0.2, "long": 0.25}
_IRIS_COLOURS = {
    "dark_brown": (58, 34, 22), "brown": (100, 62, 34), "hazel": (118, 96, 52),
    "green": (78, 112, 70), "blue": (70, 110, 160), "grey": (112, 122, 130),
}  # fmt: skip
_BACKGROUNDS = {
    "white": (242, 242, 240), "off_white": (234, 229, 218), "light_grey": (212, 213, 212),
    "pale_blue": (200, 220, 238), "blue": (128, 166, 212), "grey_blue": (168, 182, 198),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Portrait:
    """One synthetic portrait and the ground truth it was drawn from.

    Attributes:
        image: (size, size, 3) uint8 RGB.
        landmarks: (5, 2) float32 (x, y) pixel positions of left eye, right eye, nose tip,
            left mouth corner, right mouth corner. "Left" is the image's left, as in MTCNN.
        attributes: The drawn parameters (skin tone, hair style, roll angle, ...), JSON-able.
    """

    image: np.ndarray
    landmarks: np.ndarray
    attributes: dict[str, Any]


def draw_portrait(rng: np.random.Generator, size: int = 256) -> Portrait:
    """Draw one face-like ID-style portrait.

    Args:
        rng: Source of every random choice; the same generator state gives the same pixels.
        size: Side of the square image in pixels; 256 or more.

    Returns:
        The portrait, its five true landmarks and the parameters it was drawn from.
    """
    if size < 256:
        raise ValueError(f"size must be at least 256, got {size}")
    draws = _Recorder(rng)
    head = _Head(draws, size)
    head_layer = _Layer(size)
    _draw_back_hair(head_layer, head)
    _draw_neck(head_layer, head)
    _draw_ears(head_layer, head)
    _draw_face(head_layer, head)
    eyes, eye_width = _draw_eyes(head_layer, head, draws)
    _draw_brows(head_layer, head, draws, eyes, eye_width)
    nose, mouth = _draw_nose(head_layer, head, draws), _draw_mouth(head_layer, head, draws)
    _draw_front_hair(head_layer, head, draws)
    # Roll tilts the head on the neck; the shoulders stay put, as in a real ID photo.
    matrix = _rotation((head.centre_x, head.chin_y), draws.uniform("roll_degrees", -6, 6))
    body_layer = _Layer(size)
    _draw_clothing(body_layer, head, draws)
    image = _compose([_rotate(head_layer, matrix), body_layer], head, draws)
    image = _add_sensor_noise(image, rng, draws.uniform("noise_sigma", 1.0, 3.0))
    landmarks = np.array([*eyes, nose, *mouth]) @ matrix[:, :2].T + matrix[:, 2]
    return Portrait(image, landmarks.astype(np.float32), draws.attributes)


class _Recorder:
    """Random draws that remember their values by name, to report them as attributes."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.attributes: dict[str, Any] = {}

    def keep(self, name: str, value: Any) -> Any:
        """Record a value derived from earlier draws, and return it."""
        self.attributes[name] = value
        return value

    def uniform(self, name: str, low: float, high: float) -> float:
        """Draw a float in [low, high)."""
        return self.keep(name, float(self.rng.uniform(low, high)))

    def choice(self, name: str, weights: dict[str, float]) -> str:
        """Draw one key of `weights`, with probability proportional to its weight."""
        p = np.array(list(weights.values())) / sum(weights.values())
        return self.keep(name, str(self.rng.choice(list(weights), p=p)))

    def colour(self, name: str, palette: dict[str, Sequence[float]], jitter: float) -> np.ndarray:
        """Draw a named palette colour as RGB in [0, 1], its brightness varied by +-`jitter`."""
        base = self.choice(name, dict.fromkeys(palette, 1.0))
        # One factor for all channels keeps the hue: per-channel noise tints dark hair purple.
        rgb = np.array(palette[base]) * self.rng.uniform(1 - jitter, 1 + jitter)
        rgb = np.clip(rgb + self.rng.uniform(-3, 3, 3), 0, 255)
        self.keep(f"{name}_rgb", np.round(rgb).tolist())
        return (rgb / 255).astype(np.float32)


class _Head:
    """Framing, face shape and the colours several parts share. Lengths are pixels."""

    def __init__(self, draws: _Recorder, size: int) -> None:
        self.size = size
        self.eye_y = draws.uniform("eye_line", 0.41, 0.49) * size
        # Head and hair (~3.8 eye gaps) fill 55-70% of the frame, with the crown inside it.
        scale = draws.uniform("scale", 0.145, 0.18)
        self.eye_gap = draws.keep("eye_gap", min(scale * size, (self.eye_y - 0.03 * size) / 2.15))
        self.centre_x = size * (0.5 + draws.uniform("shift_x", -0.04, 0.04))
        self.half_width = self.eye_gap * draws.uniform("face_width", 1.05, 1.2)
        self.chin_y = self.eye_y + self.eye_gap * draws.uniform("face_length", 1.7, 1.9)
        self.squareness = draws.uniform("squareness", 2.0, 2.8)
        self.jaw_taper = draws.uniform("jaw_taper", 0.1, 0.3)
        self.yaw = draws.uniform("yaw", -1.0, 1.0)  # shifts features, foreshortens the far eye
        self.skin_tone = draws.uniform("skin_tone", 0.0, 1.0)  # 0 lightest, 1 darkest
        ramp = [np.interp(self.skin_tone * 7, range(8), channel) for channel in _SKIN_TONES.T]
        skin = np.clip(np.array(ramp) * draws.rng.uniform(0.95, 1.05, 3), 0, 255)
        self.skin = np.array(draws.keep("skin_rgb", np.round(skin).tolist()), np.float32) / 255
        self.hair_style = draws.choice("hair_style", _HAIR_STYLES)
        self.hair = draws.colour("hair_colour", _HAIR_COLOURS, jitter=0.15)
        self.neck_half_width = self.eye_gap * draws.uniform("neck_width", 0.6, 0.8)
        self.light_angle = draws.uniform("light_angle", 0.0, 2 * math.pi)

    def at(self, dx: float, dy: float, depth: float = 0.06) -> Point:
        """Pixel `dx`, `dy` eye gaps from the eye-line centre; yaw shifts what stands out more."""
        x = self.centre_x + (dx + self.yaw * depth) * self.eye_gap
        return (x, self.eye_y + dy * self.eye_gap)

    def span(self, width: float, height: float) -> Point:
        """Lengths in eye gaps, as pixels."""
        return (width * self.eye_gap, height * self.eye_gap)


@dataclasses.dataclass(frozen=True)
class _Shape:
    """Soft coverage in [0, 1] of drawn shapes, kept only over their bounding box for speed."""

    coverage: np.ndarray
    window: tuple[slice, slice]


class _Layer:
    """Premultiplied RGBA float canvas that soft shapes are painted onto, back to front."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.rgb = np.zeros((size, size, 3), np.float32)
        self.alpha = np.zeros((size, size), np.float32)

    def shape(self, draw: Callable[[ImageDraw.ImageDraw], object], blur: float) -> _Shape:
        """Rasterise what `draw` draws and soften its edges with a gaussian of `blur` px."""
        image = Image.new("L", (self.size, self.size), 0)
        draw(ImageDraw.Draw(image))
        left, top, right, bottom = image.getbbox() or (0, 0, 1, 1)
        pad = math.ceil(3 * blur) + 1
        rows = slice(max(top - pad, 0), min(bottom + pad, self.size))
        cols = slice(max(left - pad, 0), min(right + pad, self.size))
        patch = image.crop((cols.start, rows.start, cols.stop, rows.stop))
        patch = patch.filter(ImageFilter.GaussianBlur(blur))
        return _Shape(np.asarray(patch, np.float32) / 255, (rows, cols))

    def oval(self, centre: Point, radii: Point, blur: float) -> _Shape:
        """A soft ellipse."""
        (x, y), (rx, ry) = centre, radii
        return self.shape(lambda draw: draw.ellipse((x - rx, y - ry, x + rx, y + ry), 255), blur)

    def polygon(self, points: list[Point], blur: float) -> _Shape:
        """A soft filled polygon."""
        return self.shape(lambda draw: draw.polygon(points, fill=255), blur)

    def line(self, points: list[Point], width: float, blur: float) -> _Shape:
        """A soft polyline at least one pixel wide."""
        return self.shape(lambda draw: draw.line(points, 255, max(1, round(width))), blur)

    def paint(self, shape: _Shape, colour: np.ndarray, opacity: float = 1.0) -> None:
        """Lay `colour` (RGB in [0, 1], constant or one per pixel of the shape) over the canvas."""
        rgb, alpha = self.rgb[shape.window], self.alpha[shape.window]
        weight = shape.coverage * opacity
        rgb += weight[..., None] * (colour - rgb)
        alpha += weight * (1.0 - alpha)

    def darken(self, shape: _Shape, factor: float) -> None:
        """Multiply what is painted, keeping its shading (shadows, creases, sockets)."""
        self.rgb[shape.window] *= (1.0 - shape.coverage * (1.0 - factor))[..., None]


def _shaded(shape: _Shape, colour: np.ndarray, centre: Point, radii: Point) -> np.ndarray:
    """`colour` darkening towards the rim of an ellipse, as a lit rounded surface does."""
    ys, xs = np.ogrid[shape.window]
    u, v = (xs - centre[0]) / radii[0], (ys - centre[1]) / radii[1]
    shade = np.clip(1.04 - 0.28 * u**2 - 0.12 * v**2, 0.55, 1.04)
    return (shade[..., None] * colour).astype(np.float32)


def _points(xs: np.ndarray, ys: np.ndarray) -> list[Point]:
    """Pair coordinate arrays into the point list ImageDraw takes."""
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def _head_outline(head: _Head, grow: float = 0.0) -> list[Point]:
    """Superellipse skull narrowed towards the chin; `grow` pads it (for hair volume)."""
    t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    x = np.sign(np.cos(t)) * np.abs(np.cos(t)) ** (2 / head.squareness)
    y = np.sign(np.sin(t)) * np.abs(np.sin(t)) ** (2 / head.squareness)
    x *= 1.0 - head.jaw_taper * np.clip(y, 0, None) ** 2
    rx, ry = head.half_width + grow, head.chin_y - head.eye_y + grow
    return _points(head.centre_x + rx * x, head.eye_y + ry * y)


def _draw_back_hair(layer: _Layer, head: _Head) -> None:
    """Hair behind the head and neck, for styles that fall below the ears."""
    if head.hair_style not in ("bob", "long"):
        return
    d, cx, y = head.eye_gap, head.centre_x, head.eye_y
    top, half = 2 * y - head.chin_y - 0.15 * d, head.half_width + 0.3 * d
    bottom = y + (1.0 if head.hair_style == "bob" else 3.2) * d

    def outline(draw: ImageDraw.ImageDraw) -> None:
        draw.ellipse((cx - half, top, cx + half, 2 * y - top), fill=255)
        draw.rounded_rectangle((cx - half, y, cx + half, bottom), 0.4 * d, fill=255)

    hair = layer.shape(outline, 1.2)
    layer.paint(hair, _shaded(hair, head.hair * 0.8, (cx, y), (half * 1.3, bottom - top)))


def _draw_neck(layer: _Layer, head: _Head) -> None:
    """Neck reaching down behind the clothing, in shadow below the jaw."""
    d, cx, half, chin = head.eye_gap, head.centre_x, head.neck_half_width, head.chin_y
    box = (cx - half, chin - d, cx + half, chin + 3 * d)
    neck = layer.shape(lambda draw: draw.rectangle(box, fill=255), 1)
    layer.paint(neck, _shaded(neck, head.skin * 0.85, (cx, chin - d), (half * 1.6, 4 * d)))
    layer.darken(layer.oval((cx, chin), (half, 0.3 * d), 0.2 * d), 0.6)


def _draw_ears(layer: _Layer, head: _Head) -> None:
    """Two ears level with the eyes and nose, half hidden behind the face edge."""
    for side in (-1, 1):
        centre = head.at(side * 0.97 * head.half_width / head.eye_gap, 0.3, depth=-0.06)
        ear = layer.oval(centre, head.span(0.2, 0.42), 1)
        layer.paint(ear, _shaded(ear, head.skin * 0.9, centre, head.span(0.4, 0.8)))
        layer.darken(layer.oval(centre, head.span(0.1, 0.28), 2), 0.7)


def _draw_face(layer: _Layer, head: _Head) -> None:
    """Skin of the head with rounded shading, eye sockets, cheeks and sheen."""
    d, radii = head.eye_gap, (head.half_width, head.chin_y - head.eye_y)
    face = layer.polygon(_head_outline(head), 1)
    layer.paint(face, _shaded(face, head.skin, head.at(0, 0.3, depth=0.1), radii))
    for side in (-1, 1):  # dark eye sockets are the strongest cue that a blob is a face
        layer.darken(layer.oval(head.at(side / 2, -0.05), head.span(0.36, 0.26), 0.14 * d), 0.62)
        cheek = layer.oval(head.at(side * 0.55, 0.75), head.span(0.3, 0.2), 0.15 * d)
        layer.paint(cheek, np.array([0.75, 0.35, 0.35]), 0.12)
    # Sheen on forehead and nose bridge shows the face's relief; strongest on darker skin.
    sheen = 0.06 + 0.12 * head.skin_tone
    layer.paint(layer.oval(head.at(0, -0.75), head.span(0.5, 0.22), 0.2 * d), np.ones(3), sheen)
    bridge = layer.oval(head.at(0, 0.3, depth=0.12), head.span(0.06, 0.25), 0.06 * d)
    layer.paint(bridge, np.ones(3), sheen)


def _draw_eyes(layer: _Layer, head: _Head, draws: _Recorder) -> tuple[list[Point], float]:
    """Both eyes, one eye gap apart; returns their centres (left first) and the eye width."""
    width = head.eye_gap * draws.uniform("eye_width", 0.42, 0.5)
    openness = draws.uniform("eye_openness", 0.34, 0.44)
    iris = draws.colour("iris_colour", _IRIS_COLOURS, jitter=0.15)
    centres = [head.at(-0.5, 0.0), head.at(0.5, 0.0)]
    for side, centre in zip((-1, 1), centres, strict=True):
        # The eye on the side the head turns towards is foreshortened.
        turned = width * (1.0 - 0.12 * max(0.0, side * head.yaw))
        _draw_eye(layer, centre, (turned, turned * openness), iris, outer=side)
    return centres, width


def _draw_eye(layer: _Layer, centre: Point, extent: Point, iris: np.ndarray, outer: int) -> None:
    """Sclera, iris with a dark rim, pupil, catch-light, lashed upper lid and a crease."""
    (x, y), (width, height) = centre, extent
    t = np.linspace(0.0, 1.0, 17)
    xs, lid = x + (t - 0.5) * width, 0.6 * height * np.sin(np.pi * t) ** 0.8
    upper, lower = _points(xs, y - lid), _points(xs, y + 0.4 * height * np.sin(np.pi * t))
    layer.paint(layer.polygon(upper + lower[::-1], 0.5), np.full(3, 0.83))

    def disc(radius: float) -> _Shape:  # cut by the eyelids
        def outline(draw: ImageDraw.ImageDraw) -> None:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
            for edge, beyond in ((upper, -2 * height), (lower, 2 * height)):
                draw.polygon(edge + [(x + width, y + beyond), (x - width, y + beyond)], fill=0)

        return layer.shape(outline, 0.5)

    radius = 0.23 * width
    layer.paint(disc(radius), iris * 0.55)
    layer.paint(disc(0.8 * radius), iris)
    layer.paint(disc(0.4 * radius), np.zeros(3))
    glint = layer.oval((x + 0.3 * radius, y - 0.3 * radius), (0.15 * radius,) * 2, 0.3)
    layer.paint(glint, np.ones(3), 0.8)
    # Lashes thicken the upper lid towards the outer corner.
    lashes = _points(xs, y - lid - height * (0.12 + 0.18 * (1 - t if outer < 0 else t)))
    layer.paint(layer.polygon(upper + lashes[::-1], 0.5), np.array([0.1, 0.07, 0.06]))
    layer.darken(layer.line(lower, 1, 0.6), 0.75)
    layer.darken(layer.line(_points(xs[2:-2], y - lid[2:-2] - 0.55 * height), 1, 0.8), 0.7)


def _draw_brows(
    layer: _Layer, head: _Head, draws: _Recorder, eyes: list[Point], eye_width: float
) -> None:
    """Arched eyebrows above the eyes, tapering towards the temples."""
    thickness = head.eye_gap * draws.uniform("brow_thickness", 0.07, 0.13)
    arch = head.eye_gap * draws.uniform("brow_arch", 0.03, 0.1)
    # Brows are darker than fair or grey hair, and thin enough to let skin through.
    colour = 0.7 * np.minimum(head.hair, (0.43, 0.33, 0.24)) + 0.3 * head.skin
    t = np.linspace(0.0, 1.0, 12)  # 0 at the inner end, 1 at the outer
    for side, (x, y) in zip((-1, 1), eyes, strict=True):
        xs = x + side * (t - 0.45) * 1.25 * eye_width
        ys = y - 0.36 * head.eye_gap - arch * np.sin(np.pi * np.clip(t * 1.2, 0, 1))
        outline = _points(xs, ys - thickness * (1 - 0.6 * t)) + _points(xs[::-1], ys[::-1])
        layer.paint(layer.polygon(outline, 0.8), colour, 0.85)


def _draw_nose(layer: _Layer, head: _Head, draws: _Recorder) -> Point:
    """Bridge shadow on the unlit side, tip shadow, nostrils and wings; returns the tip."""
    d, length = head.eye_gap, draws.uniform("nose_length", 0.6, 0.72)
    half = draws.uniform("nose_width", 0.36, 0.46) / 2
    tip = head.at(0, length, depth=0.15)

    def near_tip(dx: float, dy: float) -> Point:
        return head.at(dx, length + dy, depth=0.15)

    away = 1 if math.cos(head.light_angle) < 0 else -1  # the nose shades the unlit side
    bridge = layer.line([head.at(away * 0.16, 0.05), near_tip(away * 0.14, 0)], 0.1 * d, 0.06 * d)
    layer.darken(bridge, 0.7)
    layer.darken(layer.oval(near_tip(0, 0.1), head.span(0.24, 0.07), 0.05 * d), 0.7)
    for side in (-1, 1):
        layer.darken(
            layer.oval(near_tip(side * 0.38 * half, 0.08), head.span(0.1, 0.05), 0.6), 0.35
        )
        layer.darken(layer.oval(near_tip(side * half, 0.02), head.span(0.07, 0.12), 0.05 * d), 0.72)
    layer.paint(layer.oval(near_tip(0, -0.05), head.span(0.08, 0.08), 0.06 * d), np.ones(3), 0.12)
    return tip


def _draw_mouth(layer: _Layer, head: _Head, draws: _Recorder) -> list[Point]:
    """Lips with a dark parting line and a shadow below; returns the left and right corners."""
    d, (x, y) = head.eye_gap, head.at(0, draws.uniform("mouth_drop", 1.0, 1.12), depth=0.08)
    redness, smile = draws.uniform("lip_redness", 0.25, 0.55), draws.uniform("smile", -0.2, 1.0)
    t, width = np.linspace(0.0, 1.0, 21), d * draws.uniform("mouth_width", 0.72, 0.9)
    xs, arch = x + (t - 0.5) * width, np.sin(np.pi * t)
    line = y + smile * 0.05 * d * arch
    bow = 1.0 - 0.3 * np.exp(-(((t - 0.5) / 0.08) ** 2))  # cupid's bow dip in the middle
    parting = _points(xs, line)
    upper = _points(xs, line - 0.1 * d * arch**0.6 * bow) + parting[::-1]
    lower = parting + _points(xs[::-1], line[::-1] + 0.14 * d * arch[::-1] ** 0.7)
    lips = head.skin * (1 - redness) + np.array([0.62, 0.24, 0.26]) * redness
    layer.darken(layer.oval((x, y + 0.22 * d), head.span(0.25, 0.06), 0.06 * d), 0.8)
    layer.paint(layer.polygon(upper, 0.7), lips * 0.8)
    layer.paint(layer.polygon(lower, 0.7), lips * 0.95)
    layer.darken(layer.line(parting, 0.04 * d, 0.6), 0.35)
    return [parting[0], parting[-1]]


def _draw_front_hair(layer: _Layer, head: _Head, draws: _Recorder) -> None:
    """Hair over the crown and framing the face, leaving the forehead and face open."""
    if head.hair_style == "bald":
        return
    d, cx, y, short = head.eye_gap, head.centre_x, head.eye_y, head.hair_style in ("buzz", "short")
    volume = {"buzz": 0.03, "short": 0.18, "bob": 0.25, "long": 0.22}[head.hair_style] * d
    fringe = draws.keep("fringe", bool(draws.rng.random() < 0.25))
    hairline = y - d * (0.65 if fringe else draws.uniform("hairline_height", 0.8, 1.0))
    sides_end = y + (0.1 if short else 0.9) * d
    opening = head.half_width * (0.98 if short else 0.9)

    def outline(draw: ImageDraw.ImageDraw) -> None:
        draw.polygon(_head_outline(head, grow=volume), fill=255)
        draw.rectangle((0, sides_end, head.size, head.size), fill=0)
        draw.ellipse((cx - opening, hairline, cx + opening, 2 * head.chin_y - hairline), fill=0)
        if fringe:  # cut straight across, clear of the brows
            draw.rectangle((cx - 0.8 * opening, hairline, cx + 0.8 * opening, y), fill=0)

    hair = layer.shape(outline, 1.5)
    colour = _shaded(hair, head.hair, (cx, y - 0.8 * d), (head.half_width, 1.6 * d))
    layer.paint(hair, colour, 0.75 if head.hair_style == "buzz" else 1.0)  # scalp shows through


def _draw_clothing(layer: _Layer, head: _Head, draws: _Recorder) -> None:
    """Rounded shoulders in a plain top, with a round or V neckline showing the neck."""
    d, cx = head.eye_gap, head.centre_x
    top, neck = head.chin_y + 0.45 * d, head.neck_half_width * 1.15
    v_neck = draws.choice("neckline", {"round": 0.6, "v": 0.4}) == "v"
    raw = draws.rng.uniform(0.1, 0.85, 3)  # any hue, muted towards grey by a random amount
    colour = np.round(255 * (raw + (raw.mean() - raw) * draws.rng.uniform(0, 0.9)))
    draws.keep("clothing_rgb", colour.tolist())

    def outline(draw: ImageDraw.ImageDraw) -> None:
        draw.ellipse((cx - 3.3 * d, top, cx + 3.3 * d, top + 6 * d), fill=255)
        draw.rectangle((cx - 3.3 * d, top + 3 * d, cx + 3.3 * d, head.size + 6 * d), fill=255)
        if v_neck:
            draw.polygon([(cx - neck, top - 1), (cx + neck, top - 1), (cx, top + 1.3 * d)], fill=0)
        else:
            draw.ellipse((cx - neck, top - 0.6 * d, cx + neck, top + 0.6 * d), fill=0)

    clothes = layer.shape(outline, 1.0)
    layer.paint(clothes, _shaded(clothes, colour / 255, (cx, top), (4 * d, 4 * d)))


def _compose(layers: list[_Layer], head: _Head, draws: _Recorder) -> np.ndarray:
    """Lay the layers over a plain backdrop, lighting the subject from one side."""
    ys, xs = np.ogrid[: head.size, : head.size]
    # The backdrop is a little brighter behind the head, as under studio lights.
    falloff = 1.03 - 0.15 * ((xs - head.centre_x) ** 2 + (ys - head.eye_y) ** 2) / head.size**2
    image = falloff[..., None] * draws.colour("background", _BACKGROUNDS, jitter=0.04)
    strength = draws.uniform("light_strength", 0.0, 0.25)
    cos, sin = math.cos(head.light_angle), math.sin(head.light_angle)
    along = ((xs - head.centre_x) * cos + (ys - head.eye_y) * sin) / (2 * head.eye_gap)
    light = draws.uniform("brightness", 0.88, 1.1) * (1.0 + strength * np.clip(along, -1.5, 1.5))
    for layer in layers:
        image = layer.rgb * light[..., None] + image * (1.0 - layer.alpha[..., None])
    return image


def _add_sensor_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Add grain, then quantise to uint8: real photos, which detectors learn from, are grainy."""
    grain = rng.standard_normal(image.shape, dtype=np.float32) * sigma
    return np.clip(image * 255 + grain + 0.5, 0, 255).astype(np.uint8)


def _rotation(pivot: Point, degrees: float) -> np.ndarray:
    """2x3 matrix turning image coordinates (y down) by `degrees` about `pivot`."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    turn = np.array([[c, -s], [s, c]])
    return np.hstack([turn, (np.asarray(pivot) - turn @ pivot)[:, None]])


def _rotate(layer: _Layer, matrix: np.ndarray) -> _Layer:
    """Resample a layer's pixels with the 2x3 `matrix` that also moves the landmarks."""
    inverse = tuple(np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2].ravel())  # PIL pulls pixels
    size, method = (layer.size, layer.size), Image.Resampling.BILINEAR

    def turn(channel: np.ndarray) -> np.ndarray:
        image = Image.fromarray(np.ascontiguousarray(channel))
        return np.asarray(image.transform(size, Image.Transform.AFFINE, inverse, method))

    turned = _Layer(layer.size)
    turned.rgb = np.stack([turn(layer.rgb[..., c]) for c in range(3)], axis=-1)
    turned.alpha = turn(layer.alpha)
    return turned
