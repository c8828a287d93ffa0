"""Transforms: a decoded record value → 0..n rows, configured as Kafka Connect SMTs are.

Who calls: the route's decode loop (:class:`sinkapp.pipeline.encode.Chunker`) once per decoded record, in
the loop over a fetched batch; :func:`build_chain` once per route at start.

Configuration (the connector file, per worker)::

    transforms=unwrap,flat
    transforms.unwrap.type=Debezium                  # a short name, a Kafka Connect class name,
    transforms.flat.type=Flatten                     # or user Python: mypkg.mod:func / mypkg.mod:Class
    transforms.flat.delimiter=_

A transform is ``t(value: dict, meta: Meta) -> None | dict | list[dict]``: ``None`` drops the
record (counted as filtered by a transform), a dict is one row, a list is many rows. A class is
built with the ``transforms.<name>.*`` options (a dict of strings). Anything a transform raises
becomes a :class:`~sinkapp.errors.TransformError` for that record (stage ``TRANSFORMATION``: the
route stops, or the record is dead-lettered with ``errors.tolerance=all``). A transform class
sinkapp cannot honour is a :class:`~sinkapp.errors.ConfigError` naming it at start, never a
silent warning.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sinkapp.errors import ConfigError, TransformError


class Meta(NamedTuple):
    """What a transform knows of the record besides its value (a NamedTuple: built per record)."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None            # ms since the epoch, as Kafka stores it
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class TransformSpec:
    """``transforms.<name>.type`` and the other ``transforms.<name>.*`` options.

    ``value_schemas``: whether the route's values carry a Connect schema (False for JsonConverter
    with ``schemas.enable=false`` and the String/ByteArray converters); a schema-only transform
    (TimeMillisToStringTransform) passes schemaless values through, as in Kafka Connect."""

    name: str
    type: str
    options: Mapping[str, str] = field(default_factory=dict)
    value_schemas: bool = True


Transform = Callable[[dict[str, Any], Meta], Any]


class Chain:
    """The transforms of a route, applied in order to each decoded value."""

    def __init__(self, steps: Sequence[tuple[TransformSpec, Transform]]) -> None:
        self.steps = list(steps)

    def apply(self, value: dict[str, Any], meta: Meta) -> list[dict[str, Any]]:
        rows = [value]
        for spec, t in self.steps:
            if len(rows) == 1:                       # the common case: one row in, one out
                got = self._call(spec, t, rows[0], meta)
                if type(got) is dict:
                    rows = [got]
                    continue
                rows = self._rows(spec, got)
            else:
                out: list[dict[str, Any]] = []
                for row in rows:
                    out.extend(self._rows(spec, self._call(spec, t, row, meta)))
                rows = out
            if not rows:
                break
        return rows

    @staticmethod
    def _call(spec: TransformSpec, t: Transform, row: dict[str, Any], meta: Meta) -> Any:
        try:
            return t(row, meta)
        except TransformError:
            raise
        except Exception as exc:
            raise TransformError(f"transform {spec.name} ({spec.type}) raised "
                                 f"{type(exc).__name__}: {exc}") from None

    @staticmethod
    def _rows(spec: TransformSpec, got: Any) -> list[dict[str, Any]]:
        if got is None:
            return []
        if isinstance(got, dict):
            return [got]
        if isinstance(got, list) and all(isinstance(r, dict) for r in got):
            return got
        raise TransformError(f"transform {spec.name} ({spec.type}) returned "
                             f"{type(got).__name__}; a transform returns None, a dict or a list of dicts")


#: a row carrying this key goes to the named table of the route's database instead of the route's
#: table (set by the TableByField transform; removed before the row is encoded)
TABLE_KEY = "__sinkapp_table__"


#: short names and Kafka Connect class names → factory(options) -> Transform (filled by the modules)
REGISTRY: dict[str, Callable[[Mapping[str, str]], Transform]] = {}
#: names of transforms that change only values with a Connect schema (schemaless ones pass through)
SCHEMA_ONLY: set[str] = set()
#: the modules that fill REGISTRY (imported by build_transform)
_MODULES = ("builtin", "debezium", "rows", "timemillis", "timestamp")


def register(*names: str, schema_only: bool = False) -> Callable[[Any], Any]:
    def deco(factory: Any) -> Any:
        for n in names:
            REGISTRY[n] = factory
            if schema_only:
                SCHEMA_ONLY.add(n)
        return factory
    return deco


def _pass_through(value: dict[str, Any], meta: Meta) -> dict[str, Any]:
    return value


def _user(spec: TransformSpec) -> Transform:
    """``package.module:function`` (called as is) or ``package.module:Class`` (built with the options)."""
    mod_name, _, attr = spec.type.partition(":")
    try:
        obj = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"transforms.{spec.name}.type={spec.type!r} cannot be imported: {exc}") from None
    if isinstance(obj, type):
        try:
            return obj(dict(spec.options))  # type: ignore[no-any-return]
        except Exception as exc:
            raise ConfigError(f"transforms.{spec.name}.type={spec.type!r} could not be built with "
                              f"{dict(spec.options)}: {exc}") from None
    if not callable(obj):
        raise ConfigError(f"transforms.{spec.name}.type={spec.type!r} is not callable")
    return obj  # type: ignore[no-any-return]


def build_transform(spec: TransformSpec) -> Transform:
    for mod in _MODULES:
        importlib.import_module(f"sinkapp.transforms.{mod}")
    if ":" in spec.type:
        return _user(spec)
    factory = REGISTRY.get(spec.type)
    if factory is None:
        known = sorted(n for n in REGISTRY if "." not in n)
        raise ConfigError(f"transforms.{spec.name}.type={spec.type!r} is not a transform sinkapp can apply; "
                          f"built-ins: {', '.join(known)} (or the matching Kafka Connect class names), or "
                          "user Python as package.module:function")
    try:
        built = factory(spec.options)
    except ConfigError as exc:
        raise ConfigError(f"transforms.{spec.name}: {exc}") from None
    except Exception as exc:
        raise ConfigError(f"transforms.{spec.name}: {exc}") from None
    return _pass_through if spec.type in SCHEMA_ONLY and not spec.value_schemas else built


def build_chain(specs: Sequence[TransformSpec]) -> Chain | None:
    if not specs:
        return None
    return Chain(_combine([(s, build_transform(s)) for s in specs]))


def _combine(steps: list[tuple[TransformSpec, Transform]]) -> list[tuple[TransformSpec, Transform]]:
    """The Java connector's Debezium pair (AddOpFieldForDebeziumRecord then ExtractNewRecordState)
    is one built-in Debezium step here (see :mod:`sinkapp.transforms.debezium`)."""
    from sinkapp.transforms.debezium import ADD_OP_CLASS, merge_java_pair

    out: list[tuple[TransformSpec, Transform]] = []
    i = 0
    while i < len(steps):
        spec, t = steps[i]
        if spec.type == ADD_OP_CLASS and i + 1 < len(steps):
            merged = merge_java_pair(spec, steps[i + 1][0])
            if merged is not None:
                out.append(merged)
                i += 2
                continue
        out.append((spec, t))
        i += 1
    return out
