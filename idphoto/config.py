"""Loads the YAML files under `configs/` into frozen dataclasses.

The files are the one source of truth for policies, presets and settings; this module only
checks them: an unknown key or a value of the wrong type fails with the key's dotted name.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from idphoto.errors import UserError

T = TypeVar("T")

# A clone keeps the configs beside the package; an installed wheel ships them inside it as
# `idphoto.configs` (see setup.py).
_REPO_CONFIGS = Path(__file__).resolve().parent.parent / "configs"
_PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"


_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class ConfigError(UserError):
    """A config file or override that does not fit its schema; the message names the key."""


@dataclasses.dataclass(frozen=True)
class Range:
    """Bounds a loaded number must respect: inclusive `at_least`/`at_most`, exclusive
    `above`/`below`. Declared on a field with `bounded`, checked by `from_dict`."""

    at_least: float | None = None
    at_most: float | None = None
    above: float | None = None
    below: float | None = None

    def violation(self, value: float) -> str | None:
        """What `value` breaks, as the end of a sentence (`must be at least 1`), or None."""
        if (
            (self.at_least is not None and value < self.at_least)
            or (self.at_most is not None and value > self.at_most)
            or (self.above is not None and value <= self.above)
            or (self.below is not None and value >= self.below)
        ):
            return "must be " + " and ".join(self._parts())
        return None

    def _parts(self) -> list[str]:
        words = (
            ("at least", self.at_least),
            ("at most", self.at_most),
            ("greater than", self.above),
            ("less than", self.below),
        )
        return [f"{word} {_number(bound)}" for word, bound in words if bound is not None]


def bounded(**bounds: float) -> Any:
    """A required dataclass field whose value must lie in `Range(**bounds)`.

    The one place ranges of config values are declared: `steps: int = bounded(at_least=1)`.
    """
    return dataclasses.field(metadata={"range": Range(**bounds)})


def config_dir() -> Path:
    """Returns the folder holding the project's configs: `IDPHOTO_CONFIG_DIR` when set, else the
    installed package's `idphoto/configs`, else the clone's `configs/`."""
    override = os.environ.get("IDPHOTO_CONFIG_DIR")
    if override:
        return Path(override)
    if _PACKAGED_CONFIGS.is_dir():
        return _PACKAGED_CONFIGS
    return _REPO_CONFIGS


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a YAML mapping from `path`.

    Raises:
        ConfigError: the file is missing, is not YAML, or does not hold a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror or err}") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, source: str | os.PathLike) -> dict[str, Any]:
    """Parses YAML text holding a mapping; `source` names it in errors.

    Raises:
        ConfigError: the text is not YAML or does not hold a mapping.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source} is not valid YAML: {err}".splitlines()[0]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a mapping at the top level")
    return data


def load(cls: type[T], path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> T:
    """Loads the YAML file at `path` into the dataclass `cls`, after applying `overrides`.

    Args:
        cls: a frozen dataclass whose fields describe the file.
        path: the YAML file.
        overrides: dotted keys (`model.latent_dim`) to values, applied before validation.

    Returns:
        An instance of `cls`.
    """
    data = read_yaml(path)
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
    return from_dict(cls, data)


def from_dict(cls: type[T], data: Any, where: str = "") -> T:
    """Builds the dataclass `cls` from plain data, checking every key and type.

    Raises:
        ConfigError: naming the first unknown key, missing key or wrongly typed value.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__} must be a mapping, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key {_join(where, unknown[0])!r}")
    values = {}
    for name, field in fields.items():
        key = _join(where, name)
        if name in data:
            values[name] = _coerce(hints[name], data[name], key)
            _check_range(field, values[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key {key!r}")
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, key)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if origin is typing.Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{key!r} must be one of {choices}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key!r} must be a list, got {_kind(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key!r} must have {len(args)} items, got {len(value)}")
        return tuple(
            _coerce(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key!r} must be a mapping, got {_kind(value)}")
        key_type, value_type = args
        # A plain dict, not a read-only proxy: configs are pickled into Beam workers.
        return {
            _coerce(key_type, k, key): _coerce(value_type, v, _join(key, str(k)))
            for k, v in value.items()
        }
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(value.strip()):
            return float(value)  # YAML 1.2 reads `1e9` as a number; PyYAML (YAML 1.1) does not
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key!r} must be a number, got {_kind(value)}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key!r} must be an integer, got {_kind(value)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key!r} must be true or false, got {_kind(value)}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key!r} must be a string, got {_kind(value)}")
        return value
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def parse_override(text: str) -> tuple[str, Any]:
    """Parses one `key=value` override; the value is read as YAML (`3`, `true`, `[1, 2]`)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} must look like key=value")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def to_dict(obj: Any) -> Any:
    """Turns a config dataclass back into plain data (for printing and logging)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, typing.Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    return obj


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Flattens nested mappings into `{"a.b.c": value}` (lists stay values)."""
    if not isinstance(data, typing.Mapping):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, child in data.items():
        flat.update(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted!r}: {part!r} is not a mapping")
        node = child
    node[parts[-1]] = value


def _check_range(field: dataclasses.Field, value: Any, key: str) -> None:
    bounds = field.metadata.get("range")
    problem = bounds.violation(value) if bounds is not None and value is not None else None
    if problem:
        raise ConfigError(f"{key!r} {problem}, got {_number(value)}")


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
