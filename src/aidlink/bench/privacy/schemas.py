"""Which encodings the privacy bench attacks: every shipped schema, and the hardening options.

A *schema spec* is a schema (a path to a v3 JSON file, a shipped file name such as
``chinese-person-v3.json``, or its stem ``chinese-person-v3``), optionally followed by ``+`` and a
hardening option applied on top of it (``chinese-person-v3+balance``). Shipped schemas are
discovered in ``gateway/encoding/schemas/`` at run time, so a schema file added there is measured
without any change here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources

from aidlink.bench.quality.encodings import schema_variant
from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.encoding.errors import SchemaError
from aidlink.gateway.encoding.schema import CHINESE_V3_SCHEMA, DEFAULT_CHINESE_SCHEMA

SCHEMA_PACKAGE = "aidlink.gateway.encoding.schemas"

# option name -> (xor_folds, aidlinkHardening section), applied to a schema without hardening
OPTIONS: dict[str, tuple[int | None, dict | None]] = {
    "xor-fold": (1, None),
    "balance": (None, {"balance": True}),
    "blip-0.02": (None, {"blip": {"flipProbability": 0.02}}),
    "blip-0.05": (None, {"blip": {"flipProbability": 0.05}}),
    "salt-birth-year": (None, {"salt": {"feature": "birth_date", "length": 4}}),
}


class SchemaSpecError(ValueError):
    """A schema spec names no schema or option; the message says which ones exist."""


@dataclass(frozen=True)
class SchemaChoice:
    label: str  # e.g. "chinese-person-v3+balance"
    schema: LinkageSchema


def shipped_schemas() -> list[str]:
    """File names of the schemas shipped in gateway/encoding/schemas/, sorted."""
    folder = resources.files(SCHEMA_PACKAGE)
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))


def _load(name: str) -> tuple[str, LinkageSchema]:
    shipped = shipped_schemas()
    for candidate in (name, f"{name}.json"):
        if candidate in shipped:
            text = resources.files(SCHEMA_PACKAGE).joinpath(candidate).read_bytes()
            return candidate.removesuffix(".json"), LinkageSchema.from_json(text)
    if os.path.exists(name):
        try:
            return os.path.basename(name).removesuffix(".json"), LinkageSchema.load(name)
        except (OSError, SchemaError) as exc:
            raise SchemaSpecError(f"schema {name!r}: {exc}") from None
    raise SchemaSpecError(f"no schema {name!r}: neither a file nor a shipped schema ({', '.join(shipped)})")


def resolve(spec: str | LinkageSchema) -> SchemaChoice:
    """The schema a spec names (see the module docstring); raises SchemaSpecError."""
    if isinstance(spec, LinkageSchema):
        return SchemaChoice("custom", spec)
    name, plus, option = spec.partition("+")
    label, schema = _load(name)
    if not plus:
        return SchemaChoice(label, schema)
    if option not in OPTIONS:
        raise SchemaSpecError(f"no hardening option {option!r}; options are {', '.join(OPTIONS)}")
    folds, section = OPTIONS[option]
    return SchemaChoice(f"{label}+{option}", schema_variant(schema, xor_folds=folds, hardening=section))


def default_specs() -> list[str]:
    """The headline table: the default schema (v2.1), then the earliest default (v3, plain clkhash)
    plain and with each option (they apply to a schema without segments or diffusion), then
    every other shipped schema."""
    default = DEFAULT_CHINESE_SCHEMA.removesuffix(".json")
    plain = CHINESE_V3_SCHEMA.removesuffix(".json")
    specs = [default, plain] + [f"{plain}+{option}" for option in OPTIONS]
    specs += [
        name.removesuffix(".json")
        for name in shipped_schemas()
        if name not in (DEFAULT_CHINESE_SCHEMA, CHINESE_V3_SCHEMA)
    ]
    return specs
