"""How often MTCNN finds exactly one face in the synthetic portraits, and how well it lands.

Run: .venv/bin/python bench/portrait_detection_rate.py --n 200 --size 256

Prints the exactly-one-face rate, the zero/multiple counts, the mean distance between MTCNN's
five keypoints and the true landmarks (relative to the inter-ocular distance) on single
detections, and the mean time to draw one portrait.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from idphoto.sample_data.portraits import Portrait, draw_portrait

# MTCNN's keypoint names, in the order of `Portrait.landmarks`.
KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read and validate the flags.

    Args:
        argv: Command-line arguments without the program name; None reads sys.argv.

    Returns:
        The parsed flags.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="portraits, from seeds 0..n-1")
    parser.add_argument("--size", type=int, default=256, help="side of each portrait in px")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first portrait")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    if args.size < 256:
        parser.error("--size must be at least 256")
    return args


def draw_all(first_seed: int, n: int, size: int) -> tuple[list[Portrait], float]:
    """Draw portraits from consecutive seeds.

    Args:
        first_seed: Seed of the first portrait.
        n: How many portraits.
        size: Side of each portrait in pixels.

    Returns:
        The portraits and the mean milliseconds spent drawing one.
    """
    start = time.perf_counter()
    portraits = [
        draw_portrait(np.random.default_rng(seed), size)
        for seed in range(first_seed, first_seed + n)
    ]
    return portraits, 1000 * (time.perf_counter() - start) / n


def keypoint_error(face: dict, landmarks: np.ndarray) -> float:
    """Mean distance between a detection's keypoints and the true landmarks, in eye gaps.

    Args:
        face: One MTCNN detection, with a 'keypoints' dict.
        landmarks: (5, 2) true landmarks of the portrait.

    Returns:
        Mean keypoint distance divided by the true inter-ocular distance.
    """
    detected = np.array([face["keypoints"][name] for name in KEYPOINT_NAMES], np.float64)
    inter_ocular = np.linalg.norm(landmarks[1] - landmarks[0])
    return float(np.linalg.norm(detected - landmarks, axis=1).mean() / inter_ocular)


def detect_all(detector: Any, portraits: list[Portrait], first_seed: int) -> dict[str, Any]:
    """Run the detector on every portrait and tally the outcomes.

    Args:
        detector: An `mtcnn.MTCNN`.
        portraits: The portraits, drawn from consecutive seeds.
        first_seed: Seed of the first portrait, to name the misses.

    Returns:
        Counts of exactly one, zero and multiple faces, the keypoint errors of single
        detections, and the seeds without exactly one face.
    """
    tally: dict[str, Any] = {"one": 0, "zero": 0, "multiple": 0, "errors": [], "missed": []}
    for seed, portrait in enumerate(portraits, start=first_seed):
        faces = detector.detect_faces(portrait.image)
        if len(faces) == 1:
            tally["one"] += 1
            tally["errors"].append(keypoint_error(faces[0], portrait.landmarks))
        else:
            tally["zero" if not faces else "multiple"] += 1
            tally["missed"].append(seed)
    return tally


def run(argv: list[str] | None = None) -> None:
    """Draw the portraits, detect faces in them and print the summary."""
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mtcnn import MTCNN  # imported late: TensorFlow start-up is slow and noisy

    portraits, ms_per_portrait = draw_all(args.first_seed, args.n, args.size)
    tally = detect_all(MTCNN(device="CPU:0"), portraits, args.first_seed)
    seeds = f"seeds {args.first_seed}..{args.first_seed + args.n - 1}"
    print(f"portraits:              {args.n} ({seeds}, {args.size} px)")
    print(f"exactly one face:       {tally['one']} ({tally['one'] / args.n:.1%})")
    print(f"zero faces:             {tally['zero']}")
    print(f"multiple faces:         {tally['multiple']}")
    if tally["errors"]:
        print(f"mean keypoint error:    {np.mean(tally['errors']):.3f} x inter-ocular distance")
    print(f"draw time:              {ms_per_portrait:.1f} ms per portrait")
    print(f"seeds without one face: {tally['missed']}")


if __name__ == "__main__":
    run()
