"""`flow`: Prefect's flow decorator for Tindak's flows, with one difference. Prefect
records a run's parameters through FastAPI's `jsonable_encoder`, whose import (FastAPI's
OpenAPI models) costs ~0.2 s of every `tindak run` that has no warm `tindak serve` to
ask. Tindak's flows take only dates, lists of timezone names and booleans, which pydantic
(already loaded by Prefect) turns into the same JSON. Prefect's own method is the
reference: tests/test_flow_parameters.py checks that both record the same parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import Flow
from pydantic_core import PydanticSerializationError, to_jsonable_python


class TindakFlow(Flow[Any, Any]):
    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in parameters.items():
            try:
                out[key] = to_jsonable_python(value)
            except PydanticSerializationError:
                return super().serialize_parameters(parameters)  # not one of ours: Prefect's
        return out


def flow(**options: Any) -> Callable[[Callable[..., Any]], TindakFlow]:
    """`@flow(name=…, flow_run_name=…, log_prints=True)`, as Prefect's."""
    def wrap(fn: Callable[..., Any]) -> TindakFlow:
        return TindakFlow(fn=fn, **options)
    return wrap
