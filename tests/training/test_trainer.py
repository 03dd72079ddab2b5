import json

import numpy as np
import pytest

from idphoto.errors import UserError
from idphoto.training.callbacks import image_grid, to_uint8
from idphoto.training.config import load_train_config, train_config_dir
from idphoto.training.trainer import check_resumable, run_name


def _cfg(name="dcgan64", **overrides):
    return load_train_config(train_config_dir() / f"{name}.yaml", overrides)


@pytest.mark.parametrize("name", ["seed_dcgan", "dcgan64", "dcgan128"])
def test_every_shipped_config_loads(name):
    assert _cfg(name).name


def test_run_name_is_built_from_the_settings_that_matter():
    assert run_name(_cfg(), replicas=2) == "dcgan64-bs64-lr2e-4-hinge"
    assert run_name(_cfg("seed_dcgan"), replicas=1) == "seed-dcgan-bs32-lr1e-4-nonsaturating"


def test_resuming_refuses_a_different_config_but_allows_more_steps(tmp_path):
    saved = {"model": {"latent_dim": 128}, "schedule": {"steps": 100}}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert check_resumable(
        str(tmp_path), {"model": {"latent_dim": 128}, "schedule": {"steps": 500}}
    )
    with pytest.raises(UserError, match="model.latent_dim"):
        check_resumable(str(tmp_path), {"model": {"latent_dim": 64}, "schedule": {"steps": 100}})
    assert not check_resumable(str(tmp_path / "new"), saved)


def test_generator_output_maps_to_uint8_and_tiles_into_a_grid():
    images = np.stack([np.full((4, 4, 1), -1.0), np.full((4, 4, 1), 1.0), np.zeros((4, 4, 1))])
    pixels = to_uint8(images)
    assert pixels[:, 0, 0, 0].tolist() == [0, 255, 128]
    grid = image_grid(pixels)
    assert grid.shape == (4 * 2 + 2, 4 * 2 + 2, 3)  # 2×2 tiles with a 2-pixel gap
    assert grid[0, 0].tolist() == [0, 0, 0] and grid[0, 6].tolist() == [255, 255, 255]
