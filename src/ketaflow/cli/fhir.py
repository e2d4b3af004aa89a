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
    deidentify: Annotated[
        bool,
        typer.Option(
            "--deidentify",
            help="The research variant: Safe Harbor identifiers removed, dates shifted per patient.",
        ),
    ] = False,
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
                engine,
                out,
                clinic_code=clinic,
                since=moment,
                types=wanted,
                progress=bar.show,
                deidentify=deidentify,
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


client_app = typer.Typer(
    help="SMART Backend Services clients (registries, payers) and their keys.", no_args_is_help=True
)
fhir_app.add_typer(client_app, name="client")


@client_app.command("add")
def add_client(
    client_id: Annotated[str, typer.Option("--client-id", help="The client's id (its JWT's iss and sub).")],
    name: Annotated[str, typer.Option("--name", help="Who the client is (e.g. 'State ketamine registry').")],
    jwks: Annotated[
        Path, typer.Option("--jwks", help="A JSON file holding the client's public keys (a JWKS).")
    ],
    clinic: Annotated[
        list[str] | None,
        typer.Option("--clinic", help="A clinic whose records it may export (repeat; default: all)."),
    ] = None,
    scopes: Annotated[str, typer.Option("--scopes", help="Scopes it may ask for.")] = "system/*.rs",
    database_url: DatabaseUrl = None,
) -> None:
    """Register a system client that may get tokens (RS384/ES384 JWT assertions) for bulk export."""
    import json

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from ketaflow.services.smart_auth import register_client
    from ketaflow.store import models as m
    from ketaflow.store.migrate import check_schema

    try:
        keys = json.loads(jwks.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"Cannot read the JWKS file {jwks}: {exc}.")
    try:
        engine = _engine(database_url)
        check_schema(engine)
        with Session(engine) as db:
            clinics = list(db.scalars(select(m.Clinic)))
            chosen = [c for c in clinics if not clinic or c.code in clinic]
            codes = sorted(c.code for c in chosen)
            missing = sorted(set(clinic or []) - {c.code for c in clinics})
            if missing:
                fail(f"No clinic with code {', '.join(missing)}.")
            register_client(
                db,
                client_id=client_id,
                name=name,
                jwks=keys,
                scopes=scopes,
                clinic_ids=[c.id for c in chosen],
            )
            db.commit()
    except KetaflowError as exc:
        fail(str(exc))
    typer.echo(
        f"Registered {client_id} ({name}) for {', '.join(codes)}; "
        "its token endpoint is <server>/fhir/auth/token."
    )
