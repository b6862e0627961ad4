"""The `blocks` run-config setting (docs/blocks.md, "DART use sites"), parsed as the C++ registry
(src/model/blocks/block_spec.{h,cpp}) parses it: a JSON array of {"type", "site", options...},
empty by default. Every mistake is a ValueError naming the entry (blocks[i]) and what is valid.

Conventions where the page leaves room (kept in step with the C++):
  * type, site and option names are matched exactly (case-sensitive), unlike top-level config keys;
  * integer options take JSON integers only (no booleans, no 64.0), boolean options true, false,
    0 or 1, number options any finite JSON number but a boolean;
  * `skip_stream` is an error at loop_output (it applies to loop_input only);
  * daam's `groups`, left out, is the model's num_heads (the caller passes it in).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

SITES = ("loop_input", "loop_output", "attn_output", "mlp_input", "block_output")
# Sites with one block per forward of the whole model, not one per unique block.
MODEL_LEVEL_SITES = ("loop_output",)

TYPE_SITES: Dict[str, Tuple[str, ...]] = {
    "tau_fusion": ("loop_input", "loop_output"),
    "daam": ("attn_output", "mlp_input", "block_output"),
    "head_gate": ("attn_output",),
}

# option -> (kind, default); a None default is resolved from the model (daam's groups).
TYPE_OPTIONS: Dict[str, Dict[str, Tuple[str, object]]] = {
    "tau_fusion": {"hidden": ("int", 64), "latent": ("int", 0), "init_logit": ("float", 0.0),
                   "skip_stream": ("bool", True)},
    "daam": {"groups": ("int", None), "gaussians": ("int", 1), "residual": ("bool", False), "eps": ("float", 1e-5),
             "init_scale": ("float", 2.0), "init_offset_std": ("float", 0.5)},
    "head_gate": {"identity_init": ("bool", True)},
}

# Lower bounds an option's value must meet: (bound, strict).
OPTION_BOUNDS: Dict[str, Tuple[float, bool]] = {
    "hidden": (1, False), "latent": (0, False), "groups": (1, False), "gaussians": (1, False),
    "eps": (0.0, True), "init_offset_std": (0.0, False),
}


@dataclass(frozen=True)
class BlockSpec:
    """One entry of `blocks` with every option of its type resolved (defaults filled in)."""

    index: int  # position in the setting: errors and logs name blocks[index]
    type: str
    site: str
    options: Mapping[str, object]

    @property
    def label(self) -> str:
        return f"{self.type}@{self.site}"

    @property
    def where(self) -> str:
        return f"blocks[{self.index}] ({self.label})"

    @property
    def model_level(self) -> bool:
        return self.site in MODEL_LEVEL_SITES


def blocks_setting(value: object, where: str = "blocks") -> List[object]:
    """The setting as a list: a JSON array given as a list, or as JSON text (an empty string or
    None means no blocks)."""
    if value is None:
        return []
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{where}: must be a JSON array of block objects, got {value!r}")
    return list(value)


def _option_value(name: str, kind: str, value: object, where: str) -> object:
    if kind == "bool":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return bool(value)
        raise ValueError(f"{where}: option {name!r} must be true or false, got {value!r}")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}: option {name!r} must be an integer, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: option {name!r} must be a finite number, got {value!r}")
    bound = OPTION_BOUNDS.get(name)
    if bound is not None and (value <= bound[0] if bound[1] else value < bound[0]):
        relation = "greater than" if bound[1] else "at least"
        raise ValueError(f"{where}: option {name!r} must be {relation} {bound[0]}, got {value!r}")
    return int(value) if kind == "int" else float(value)


def _parse_entry(index: int, entry: object, default_groups: int, origin: str) -> BlockSpec:
    where = f"{origin}: blocks[{index}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: must be an object with \"type\" and \"site\", got {entry!r}")
    kind, site = entry.get("type"), entry.get("site")
    if not isinstance(kind, str) or kind not in TYPE_SITES:
        raise ValueError(f"{where}: unknown or missing type {kind!r} (valid types: {', '.join(TYPE_SITES)})")
    if not isinstance(site, str) or site not in SITES:
        raise ValueError(f"{where}: unknown or missing site {site!r} (valid sites: {', '.join(SITES)})")
    if site not in TYPE_SITES[kind]:
        raise ValueError(f"{where}: {kind} does not serve site {site!r} (its sites: {', '.join(TYPE_SITES[kind])})")
    known = TYPE_OPTIONS[kind]
    options: Dict[str, object] = {}
    for name, value in entry.items():
        if name in ("type", "site"):
            continue
        if name not in known:
            valid = ", ".join(known)
            raise ValueError(f"{where}: unknown option {name!r} for {kind} (its options: {valid})")
        options[name] = _option_value(name, known[name][0], value, where)
    if "skip_stream" in options and site != "loop_input":
        raise ValueError(f"{where}: option 'skip_stream' applies to loop_input only (this entry is at {site!r})")
    for name, (_, default) in known.items():
        options.setdefault(name, default_groups if name == "groups" and default is None else default)
    return BlockSpec(index=index, type=kind, site=site, options=options)


def parse_block_specs(value: object, default_groups: int, origin: str = "config") -> List[BlockSpec]:
    """The `blocks` setting parsed and checked; `default_groups` fills daam's groups."""
    specs: List[BlockSpec] = []
    for index, entry in enumerate(blocks_setting(value, f"{origin}: blocks")):
        spec = _parse_entry(index, entry, default_groups, origin)
        for earlier in specs:
            if (earlier.type, earlier.site) == (spec.type, spec.site):
                raise ValueError(f"{origin}: blocks[{index}]: {spec.type} appears twice at site {spec.site!r} "
                                 f"(also blocks[{earlier.index}])")
        specs.append(spec)
    return specs


def reject_blocks_outside_dart(raw: Mapping[str, object], model: str, origin: str = "config") -> None:
    """Blocks plug into DART only: a non-empty `blocks` with another model is an error."""
    values = {str(k).lower(): v for k, v in raw.items()}
    entries = blocks_setting(values.get("blocks"), f"{origin}: blocks")
    if entries and model != "dart":
        raise ValueError(f"{origin}: blocks[0]: pluggable blocks need model 'dart' (this config's model is {model!r})")


def find_spec(specs, site: str, kind: str) -> Optional[BlockSpec]:
    return next((s for s in specs if s.site == site and s.type == kind), None)
