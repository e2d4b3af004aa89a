"""Small helpers shared by every CLI command: JSON output and plain-sentence errors."""

import json
import math
import sys
from datetime import date, datetime
from enum import Enum
from typing import Any, NoReturn

import typer


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def _finite(obj: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def emit_json(payload: Any) -> None:
    """Print a payload as JSON on stdout (dataclasses, Pydantic models, NumPy arrays allowed)."""
    text = json.dumps(payload, default=_default, allow_nan=True)
    data = _finite(json.loads(text))
    sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")


def fail(message: str) -> NoReturn:
    """Print one plain sentence on stderr and exit with code 2 (bad input)."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=2)
