"""A route's transform chain: building each configured transform and applying them in order.

Who calls: :func:`sinkapp.transforms.build_chain` once per route at start; the decode loop applies
the chain to each decoded value. Importing this module registers every built-in transform.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import sinkapp.transforms.builtin  # noqa: F401  (each registers itself)
import sinkapp.transforms.rows  # noqa: F401
import sinkapp.transforms.timemillis  # noqa: F401
import sinkapp.transforms.timestamp  # noqa: F401
from sinkapp.errors import ConfigError, TransformError
from sinkapp.transforms.base import REGISTRY, SCHEMA_ONLY, Meta, Skipped, Transform, TransformSpec
from sinkapp.transforms.debezium import ADD_OP_CLASS, ROW_TYPES, merge_java_pair


class Chain:
    """The transforms of a route, applied in order to each decoded value."""

    def __init__(self, steps: Sequence[tuple[TransformSpec, Transform]]) -> None:
        self.steps = list(steps)
        #: a step may give rows without the columns Debezium sent no value for (a partial update)
        self.marks_unavailable = any(spec.type in ROW_TYPES for spec, _ in self.steps)

    def apply(self, value: dict[str, Any], meta: Meta) -> list[dict[str, Any]] | Skipped:
        """The rows of one record, or what a transform said when it skipped the record on purpose."""
        rows = [value]
        for spec, t in self.steps:
            if len(rows) == 1:                       # the common case: one row in, one out
                got = self._call(spec, t, rows[0], meta)
                if type(got) is dict:
                    rows = [got]
                    continue
                if type(got) is Skipped:
                    return got
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
        if got is None or type(got) is Skipped:      # one of several rows skipped: no row
            return []
        if isinstance(got, dict):
            return [got]
        if isinstance(got, list) and all(isinstance(r, dict) for r in got):
            return got
        raise TransformError(f"transform {spec.name} ({spec.type}) returned "
                             f"{type(got).__name__}; a transform returns None, a dict or a list of dicts")


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
