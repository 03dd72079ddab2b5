"""The quality benchmark compares the configs the README and the Makefile name."""

import re
from pathlib import Path

from bench import quality_bench
from idphoto.training.config import DEFAULT_TRAIN_CONFIG

REPO = Path(__file__).resolve().parents[2]


def test_the_default_config_is_the_one_make_train_and_make_demo_use():
    makefile = (REPO / "Makefile").read_text()
    default = re.search(r"^TRAIN_CONFIG \?= configs/train/(\w+)\.yaml$", makefile, re.M)
    assert default and default.group(1) == DEFAULT_TRAIN_CONFIG


def test_every_64px_rgb_config_and_the_seed_dcgan_are_compared():
    names = quality_bench.configs()
    assert {"seed_dcgan", "dcgan64", DEFAULT_TRAIN_CONFIG} <= set(names)
    assert "dcgan128" not in names


def test_the_time_marks_scale_with_the_bench_scale():
    assert quality_bench.marks(1.0) == [5, 10, 20, 30]
    assert quality_bench.marks(0.1) == [0.5, 1.0, 2.0, 3.0]
