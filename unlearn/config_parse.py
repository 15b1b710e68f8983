"""Generic YAML -> frozen dataclass machinery behind `unlearn.config` (strict, source-aware)."""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A bad configuration: the message names the source, the key and what to do."""


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return data


def nest(dotted: str, value: Any) -> dict:
    out: Any = value
    for part in reversed(dotted.split(".")):
        out = {part: out}
    return out


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def note_sources(raw: dict, source: str, sources: dict[str, str], prefix: str = "") -> None:
    for key, value in raw.items():
        sources[prefix + str(key)] = source
        if isinstance(value, dict):
            note_sources(value, source, sources, f"{prefix}{key}.")


def to_dataclass(cls: type, raw: Any, prefix: str, sources: dict[str, str]) -> Any:
    where = sources.get(prefix.rstrip("."), "config") if prefix else "config"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.')}' must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        dotted = prefix + str(key)
        src = sources.get(dotted, where)
        if key not in fields or key in getattr(cls, "_resolved", ()):
            valid = ", ".join(k for k in fields if k not in getattr(cls, "_resolved", ()))
            raise ConfigError(f"{src}: unknown key '{dotted}' (valid: {valid})")
        kwargs[key] = coerce(hints[key], value, dotted, src, sources)
    return cls(**kwargs)


def coerce(hint: Any, value: Any, dotted: str, src: str, sources: dict[str, str]) -> Any:
    """Check `value` against a type hint; ints pass as floats, lists become tuples."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return to_dataclass(hint, value, dotted + ".", sources)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return coerce(inner[0], value, dotted, src, sources)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{src}: '{dotted}' must be a list, got {value!r}")
        return tuple(coerce(item, v, dotted, src, sources) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:  # YAML reads 1e-3 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if hint in (int, float, str, bool) and (type(value) is not hint):
        raise ConfigError(f"{src}: '{dotted}' must be {hint.__name__}, got {value!r}")
    return value
