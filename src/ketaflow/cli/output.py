"""Small helpers shared by every CLI command: JSON output, plain-sentence errors, progress bars."""

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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


class ProgressBar:
    """A bar on stderr for long work: `advance(n)` by steps, or `show(done, total)` when the total is
    only known as the work goes (pages of a database file, tables of a dump)."""

    def __init__(self, bar: Any, task: Any) -> None:
        self._bar = bar
        self._task = task

    def advance(self, steps: int = 1) -> None:
        self._bar.advance(self._task, steps)

    def show(self, done: int, total: int) -> None:
        self._bar.update(self._task, completed=done, total=total)


@contextmanager
def progress_bar(label: str, unit: str, total: int | None = None) -> Iterator[ProgressBar]:
    """A progress bar on stderr, "label [bar] done/total unit elapsed", while the block runs.

    Rich is imported here, only by the commands that draw one (it costs more than Typer itself)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        yield ProgressBar(bar, bar.add_task(label, total=total))
