"""Transforms: a decoded record value → 0..n rows, configured as Kafka Connect SMTs are.

Who calls: the route's decode loop (:class:`sinkapp.pipeline.encode.Chunker`) once per decoded record, in
the loop over a fetched batch; :func:`build_chain` once per route at start.

Configuration (the connector file, per worker)::

    transforms=unwrap,flat
    transforms.unwrap.type=Debezium                  # a short name, a Kafka Connect class name,
    transforms.flat.type=Flatten                     # or user Python: mypkg.mod:func / mypkg.mod:Class
    transforms.flat.delimiter=_

A transform is ``t(value: dict, meta: Meta) -> None | dict | list[dict]``: ``None`` drops the
record (counted as filtered by a transform), a dict is one row, a list is many rows, a
:class:`Skipped` is an event skipped on purpose (counted by kind, named once in the log). A class is
built with the ``transforms.<name>.*`` options (a dict of strings). Anything a transform raises
becomes a :class:`~sinkapp.errors.TransformError` for that record (stage ``TRANSFORMATION``: the
route stops, or the record is dead-lettered with ``errors.tolerance=all``). A transform class
sinkapp cannot honour is a :class:`~sinkapp.errors.ConfigError` naming it at start, never a
silent warning.
"""

from __future__ import annotations

from sinkapp.transforms.base import (
    REGISTRY,
    SCHEMA_ONLY,
    TABLE_KEY,
    UNAVAILABLE_KEY,
    Meta,
    Skipped,
    Transform,
    TransformSpec,
    register,
)
from sinkapp.transforms.chain import Chain, build_chain, build_transform

__all__ = ["REGISTRY", "SCHEMA_ONLY", "TABLE_KEY", "UNAVAILABLE_KEY", "Chain", "Meta", "Skipped", "Transform", "TransformSpec",
           "build_chain", "build_transform", "register"]
