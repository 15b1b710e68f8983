"""The `methods:` part of a config: one MethodSpec per name in `unlearn.methods`, built from
configs/methods/<name>.yaml under the experiment's `methods.<name>` settings, with its tuning grid
validated (config.build_config calls it).

A method file may hold a block per model family (`smollm2:`, `tiny:`): settings and grid for
that family, merged over the file's own when the experiment's model belongs to it, and under the
experiment's `methods.<name>`. A pretrained model wants learning rates ~20x below the tiny
model's; its grid says so once for every experiment on it."""
from __future__ import annotations

import dataclasses

from unlearn.config import METHOD_CONFIGS, Config, MethodSpec, TrainConfig, to_dict
from unlearn.config_parse import ConfigError, merge, read_yaml, to_dataclass


def resolve_methods(cfg: Config, method_raw: dict, sources: dict[str, str]) -> tuple[MethodSpec, ...]:
    """Build a MethodSpec per name in `unlearn.methods`: configs/methods/<name>.yaml < config."""
    from unlearn.methods import METHODS  # late import: methods import config

    if not isinstance(method_raw, dict):
        raise ConfigError(f"{sources.get('methods', 'config')}: 'methods' must be a mapping of method name to settings")
    for name in list(method_raw) + list(cfg.unlearn.methods):
        if name not in METHODS:
            key = "unlearn.methods" if name in cfg.unlearn.methods else f"methods.{name}"
            raise ConfigError(f"{sources.get(key, 'config')}: unknown method '{name}' in {key} "
                              f"(valid: {', '.join(sorted(METHODS))})")
    specs = []
    for name in cfg.unlearn.methods:
        method = METHODS[name]
        yaml_path = METHOD_CONFIGS / f"{name}.yaml"
        merged = read_yaml(yaml_path) if yaml_path.is_file() else {}
        blocks = {f: merged.pop(f) for f in FAMILIES if f in merged}
        block = blocks.get(model_family(cfg.model.name)) or {}
        if not isinstance(block, dict):
            raise ConfigError(f"{yaml_path}: '{model_family(cfg.model.name)}' must be a mapping of settings for "
                              "that model family")
        merged = merge(merge(merged, block), method_raw.get(name) or {})
        grid = merged.pop("grid", None) or {}
        train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
        knob_keys = {f.name for f in dataclasses.fields(method.Config)}
        for key in merged:
            if key not in train_keys | knob_keys:
                src = sources.get(f"methods.{name}.{key}", str(yaml_path))
                raise ConfigError(f"{src}: unknown key 'methods.{name}.{key}' "
                                  f"(valid: {', '.join(sorted(train_keys | knob_keys))})")
        train = to_dataclass(TrainConfig, {k: v for k, v in merged.items() if k in train_keys},
                              f"methods.{name}.", sources)
        params = to_dataclass(method.Config, {k: v for k, v in merged.items() if k in knob_keys},
                               f"methods.{name}.", sources)
        specs.append(MethodSpec(name, train, params, _grid(name, grid, train, params, sources, yaml_path)))
    return tuple(specs)


FAMILIES = ("tiny", "smollm2")  # model families a method file may hold a block for


def model_family(model_name: str) -> str | None:
    """The family of `model.name`: tiny, smollm2 (SmolLM2-135M), or None (any other model)."""
    if model_name == "tiny":
        return "tiny"
    return "smollm2" if model_name.lower().startswith("smollm2") else None


def _grid(name, grid, train, params, sources, yaml_path) -> tuple:
    """Validate `methods.<name>.grid`: each key a training key or knob, each value a list."""
    out = []
    for key, values in grid.items():
        src = sources.get(f"methods.{name}.grid.{key}", str(yaml_path))
        target = train if hasattr(train, key) else params if hasattr(params, key) else None
        if target is None or not isinstance(values, list) or not values:
            raise ConfigError(f"{src}: 'methods.{name}.grid.{key}' must name a training key or knob "
                              "and list at least one value")
        for value in values:  # each value must be valid for its key
            to_dataclass(type(target), {**to_dict(target), key: value}, f"methods.{name}.grid.", sources)
        out.append((key, tuple(values)))
    return tuple(out)
