"""The base of every rules model: frozen, no unknown keys, no NaN, and a required ``source``.

Kept apart from the models themselves so that one part of the rules (the rating scales, see
:mod:`ketaflow.clinical.scale_schema`) can be validated without building the whole schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from ketaflow.errors import InvalidInput

Source = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10)]


class Frozen(BaseModel):
    # allow_inf_nan=False: TOML can write nan and inf, and NaN compares false with everything,
    # so a NaN ceiling or limit would silently switch that check off.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class SourcedValue(Frozen):
    value: float
    source: Source


Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], data: Mapping[str, Any]) -> Model:
    """Validate rules data as ``model``; an error becomes one sentence naming where it is."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"Clinic rules are not valid at '{where}': {first['msg']}.") from None
