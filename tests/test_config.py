import dataclasses
from typing import Literal

import pytest

from idphoto import config
from idphoto.config import ConfigError
from idphoto.data.ingest_config import load_ingest_config


@dataclasses.dataclass(frozen=True)
class Inner:
    size: int
    kind: Literal["a", "b"]


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner
    rates: tuple[float, ...] = ()
    extra: dict[str, int] = dataclasses.field(default_factory=dict)


def _write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_nested_yaml_becomes_frozen_dataclasses(tmp_path):
    path = _write(tmp_path, "name: x\ninner: {size: 3, kind: a}\nrates: [1, 2.5]\nextra: {k: 1}\n")
    loaded = config.load(Outer, path)
    assert loaded == Outer("x", Inner(3, "a"), (1.0, 2.5), {"k": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.name = "y"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ninner: {size: 3, kind: a, colour: red}\n", "unknown key 'inner.colour'"),
        ("name: x\ninner: {size: three, kind: a}\n", "'inner.size' must be an integer"),
        ("name: x\ninner: {size: 3, kind: c}\n", "'inner.kind' must be one of"),
        ("name: x\ninner: {kind: a}\n", "missing key 'inner.size'"),
        ("name: x\ninner: {size: true, kind: a}\n", "'inner.size' must be an integer"),
        ("name: [x]\ninner: {size: 1, kind: a}\n", "'name' must be a string"),
    ],
)
def test_bad_values_fail_with_the_key_name(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        config.load(Outer, _write(tmp_path, text))


def test_overrides_are_applied_before_validation(tmp_path):
    path = _write(tmp_path, "name: x\ninner: {size: 3, kind: a}\n")
    key, value = config.parse_override("inner.size=64")
    assert config.load(Outer, path, {key: value}).inner.size == 64
    with pytest.raises(ConfigError, match="unknown key 'inner.sise'"):
        config.load(Outer, path, {"inner.sise": 1})


def test_override_without_equals_sign_is_refused():
    with pytest.raises(ConfigError, match="key=value"):
        config.parse_override("inner.size")


def test_invalid_yaml_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(Outer, _write(tmp_path, "name: [unclosed\n"))


def test_project_ingest_config_loads():
    cfg = load_ingest_config()
    assert cfg.align.resolution > 0
    assert config.to_dict(cfg)["align"]["resolution"] == cfg.align.resolution


def test_exponent_floats_are_numbers_but_other_strings_are_not(tmp_path):
    path = _write(tmp_path, "name: x\ninner: {size: 3, kind: a}\nrates: [1e9, 2E-4, -.5e1]\n")
    assert config.load(Outer, path).rates == (1e9, 2e-4, -5.0)
    with pytest.raises(ConfigError, match=r"'rates\[0\]' must be a number"):
        config.load(Outer, _write(tmp_path, "name: x\ninner: {size: 3, kind: a}\nrates: [1e]\n"))


@dataclasses.dataclass(frozen=True)
class Bounded:
    steps: int = config.bounded(at_least=1)
    decay: float = config.bounded(at_least=0, below=1)
    ratio: float = config.bounded(above=0, at_most=1)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"steps": 0}, "'steps' must be at least 1, got 0"),
        ({"decay": 1.0}, "'decay' must be at least 0 and less than 1, got 1"),
        ({"decay": -0.5}, "'decay' must be at least 0 and less than 1, got -0.5"),
        ({"ratio": 0.0}, "'ratio' must be at most 1 and greater than 0, got 0"),
        ({"ratio": 1.5}, "'ratio' must be at most 1 and greater than 0, got 1.5"),
    ],
)
def test_values_outside_a_declared_range_fail_naming_the_key(values, message):
    good = {"steps": 1, "decay": 0.0, "ratio": 1.0}
    assert config.from_dict(Bounded, good) == Bounded(1, 0.0, 1.0)
    with pytest.raises(ConfigError) as caught:
        config.from_dict(Bounded, {**good, **values})
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("schedule.steps=0", "'schedule.steps' must be at least 1"),
        ("data.batch_size_per_replica=0", "'data.batch_size_per_replica' must be at least 1"),
        ("ema.decay=1.0", "'ema.decay' must be at least 0 and less than 1"),
        ("loss.r1_gamma=-1", "'loss.r1_gamma' must be at least 0"),
    ],
)
def test_training_config_ranges_are_checked_when_loading(override, message):
    from idphoto.training.config import load_train_config, train_config_dir

    key, value = config.parse_override(override)
    with pytest.raises(ConfigError, match=message):
        load_train_config(train_config_dir() / "dcgan64.yaml", {key: value})
