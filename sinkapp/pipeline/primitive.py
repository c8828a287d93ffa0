"""A top-level Connect primitive as a row (the Chunker's decode loop, :mod:`sinkapp.pipeline.encode`)."""

from __future__ import annotations

from typing import Any

from sinkapp.converters.simple import Primitive
from sinkapp.errors import ConversionError
from sinkapp.streamload.encoding import CsvEncoder, JsonEncoder


def primitive_row(value: Any, chain: Any, encoder: JsonEncoder | CsvEncoder) -> Any:
    """A top-level Connect primitive (:class:`Primitive`, e.g. a Decimal) → a one-column row:
    for CSV routes, and JSON routes whose ``sink.properties.columns`` names one column;
    anything else is a ConversionError saying what the value is."""
    if not isinstance(value, Primitive):
        kind = {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "an array"}.get(
            type(value), type(value).__name__)
        raise ConversionError(f"the value is JSON but not an object ({kind}); each value must hold one JSON "
                              "object")
    what = f"the value is a Connect {value.schema_type}, not a struct"
    if chain is not None:
        raise ConversionError(f"{what}; transforms take a struct")
    if isinstance(encoder, CsvEncoder):
        return [value.value]
    cols = encoder.columns
    if cols is not None and len(cols) == 1:
        return {cols[0]: value.value}
    raise ConversionError(f"{what}; with sink.properties.format=json name its one column in "
                          "sink.properties.columns (or use format=csv)")

