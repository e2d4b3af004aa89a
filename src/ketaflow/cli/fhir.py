"""`ketaflow fhir export`: the network's (or a clinic's) records as FHIR R4 NDJSON files."""

from pathlib import Path
from typing import Annotated

import typer

from ketaflow.cli.output import emit_json, fail, progress_bar
from ketaflow.cli.system import DatabaseUrl, _engine
from ketaflow.errors import KetaflowError

fhir_app = typer.Typer(help="FHIR R4 interoperability: bulk export of the records.", no_args_is_help=True)


@fhir_app.command("export")
def export(
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write one <Type>.ndjson file per resource type into.")
    ],
    clinic: Annotated[
        str | None, typer.Option("--clinic", help="Only this clinic's patients (its code).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Only resources charted at or after this (2026-03-01 or 2026-03-01T12:00:00Z)."
        ),
    ] = None,
    types: Annotated[
        str | None,
        typer.Option("--type", help="Only these resource types, comma-separated (Patient,Observation)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Export every patient's record as FHIR R4 NDJSON (Bulk Data format); every reference resolves in it."""
    from ketaflow.services.fhir_export import export_ndjson, parse_since, parse_types
    from ketaflow.store.migrate import check_schema

    try:
        wanted = parse_types(types)
        moment = parse_since(since)
        engine = _engine(database_url)
        check_schema(engine)
        with progress_bar("Exporting", "patients") as bar:
            result = export_ndjson(
                engine, out, clinic_code=clinic, since=moment, types=wanted, progress=bar.show
            )
    except KetaflowError as exc:
        fail(str(exc))
    if as_json:
        emit_json(
            {
                "out": str(result.out),
                "patients": result.patients,
                "resources": result.resources,
                "counts": result.counts,
                "seconds": round(result.seconds, 2),
            }
        )
        return
    for kind, count in sorted(result.counts.items()):
        typer.echo(f"  {kind + '.ndjson':<34} {count:>10,}")
    rate = result.resources / result.seconds if result.seconds else 0.0
    typer.echo(
        f"Exported {result.resources:,} resources of {result.patients:,} patients to {result.out} "
        f"in {result.seconds:.1f} s ({rate:,.0f} resources/s)."
    )


def register(app: typer.Typer) -> None:
    app.add_typer(fhir_app, name="fhir")
