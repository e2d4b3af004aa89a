"""`ketaflow hl7`: bedside monitors over HL7 v2 (issue 16). The MLLP listener, the registry of
monitors, and the messages that could not be charted (see and replay), for the administrator."""

from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ketaflow.cli.output import emit_json, fail
from ketaflow.cli.system import DatabaseUrl, _engine
from ketaflow.errors import KetaflowError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from sqlalchemy.orm import Session

    from ketaflow.services.auth import CurrentUser

hl7_app = typer.Typer(
    help="Bedside monitors over HL7 v2: the MLLP listener, the monitor registry, undeliverable messages.",
    no_args_is_help=True,
)
monitors_app = typer.Typer(
    help="Register, list and retire a clinic's bedside monitors.", no_args_is_help=True
)
hl7_app.add_typer(monitors_app, name="monitors")

As = Annotated[
    str,
    typer.Option(
        "--as", help="Your staff e-mail address (an administrator of the clinic); the change is audited."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
T = TypeVar("T")


def _run(
    command: str, database_url: str | None, email: str, action: "Callable[[Session, CurrentUser], T]"
) -> T:
    from sqlalchemy.orm import Session

    from ketaflow.services.audit import cli_origin
    from ketaflow.services.operators import acting_staff
    from ketaflow.store.migrate import check_schema

    engine = _engine(database_url)
    try:
        check_schema(engine)
        with Session(engine, expire_on_commit=False) as db:
            return action(db, acting_staff(db, email, cli_origin(f"hl7 {command}")))
    except KetaflowError as exc:
        fail(str(exc))


def _run_async(main: "Callable[[], Coroutine[Any, Any, None]]") -> None:
    """Run a long-lived command's event loop; Ctrl-C stops it with one line, not a traceback."""
    import asyncio

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        typer.echo("Stopped.", err=True)


def _remaining(ends: float | None, now: float) -> float:
    """Seconds left before `ends` (a loop time), or forever (inf) when there is no end."""
    return float("inf") if ends is None else ends - now


def _now() -> Any:
    from ketaflow.store.models import utcnow

    return utcnow()


def listen(
    host: Annotated[
        str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (2575 is HL7's registered MLLP port).")] = 2575,
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: run until Ctrl-C).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Take monitors' ORU^R01 messages over MLLP, chart them, and answer each with its ACK."""
    import asyncio
    import logging

    from ketaflow.store.migrate import check_schema
    from ketaflow.workers.mllp_listener import MllpListener

    if not 0 <= port <= 65535:
        fail(f"The port must be between 0 and 65535; got {port}.")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    engine = _engine(database_url)
    try:
        check_schema(engine)
    except KetaflowError as exc:
        fail(str(exc))

    async def run() -> None:
        listener = MllpListener(engine, host, port)
        try:
            bound_host, bound_port = await listener.start()
        except OSError as exc:
            fail(
                f"Cannot listen on {host}:{port} ({exc.strerror}); "
                "choose another --port or stop what uses it."
            )
        typer.echo(f"Listening for HL7 v2 over MLLP on {bound_host}:{bound_port} (Ctrl-C stops).", err=True)
        shown: dict[str, int] = {}
        loop = asyncio.get_running_loop()
        ends = None if seconds is None else loop.time() + seconds
        try:
            while _remaining(ends, loop.time()) > 0:
                await asyncio.sleep(min(10.0, _remaining(ends, loop.time())))
                now = dict(listener.counts)
                if now != shown:  # progress: what came in so far
                    typer.echo("messages: " + ", ".join(f"{k} {v}" for k, v in sorted(now.items())), err=True)
                    shown = now
        finally:
            await listener.close()

    _run_async(run)


def monitors_add(
    clinic: Annotated[str, typer.Argument(help="The clinic's code.")],
    chair: Annotated[str, typer.Argument(help="The chair's label, e.g. 'Chair 3'.")],
    email: As,
    device_id: Annotated[
        str | None,
        typer.Option("--device-id", help="What the monitor sends in OBX-18.1 (or MSH-3 with no gateway)."),
    ] = None,
    location: Annotated[
        str | None, typer.Option("--location", help="What the gateway sends in PV1-3, e.g. 'INF^^3^NORTH'.")
    ] = None,
    label: Annotated[str, typer.Option(help="A name for the monitor (default: the chair's).")] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Register a monitor in a chair."""
    from ketaflow.services.monitors import register_monitor

    monitor = _run(
        "monitors add",
        database_url,
        email,
        lambda db, who: register_monitor(
            db, who, clinic, chair, label=label, device_id=device_id, location=location, now=_now()
        ),
    )
    typer.echo(f"Registered {monitor.label} ({monitor.id}) in {chair}.")


def monitors_list(
    clinic: Annotated[str, typer.Argument(help="The clinic's code.")],
    email: As,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List a clinic's monitors."""
    from ketaflow.services.monitors import list_monitors

    rows = _run("monitors list", database_url, email, lambda db, who: list_monitors(db, who, clinic))
    data = [
        {
            "id": str(r.id),
            "label": r.label,
            "chair": r.chair,
            "device_id": r.device_id,
            "location": r.location,
            "active": r.active,
        }
        for r in rows
    ]
    if as_json:
        emit_json(data)
        return
    for d in data:
        state = "" if d["active"] else " (retired)"
        typer.echo(
            f"{d['chair']}: {d['label']}{state}  device={d['device_id'] or '-'}  "
            f"location={d['location'] or '-'}  id={d['id']}"
        )
    if not data:
        typer.echo("No monitors registered; add one with `ketaflow hl7 monitors add`.")


def monitors_retire(
    clinic: Annotated[str, typer.Argument(help="The clinic's code.")],
    monitor_id: Annotated[str, typer.Argument(help="The monitor's id (from `monitors list`).")],
    email: As,
    database_url: DatabaseUrl = None,
) -> None:
    """Take a monitor out of service (its messages are refused from then on)."""
    from ketaflow.services.monitors import retire_monitor

    ident = _uuid(monitor_id)
    _run(
        "monitors retire",
        database_url,
        email,
        lambda db, who: retire_monitor(db, who, clinic, ident, now=_now()),
    )
    typer.echo("Retired.")


def _uuid(text: str) -> Any:
    import uuid

    try:
        return uuid.UUID(text.strip())
    except ValueError:
        fail(f"{text!r} is not an id; copy it from the list.")


def dead_letters(
    email: As,
    include_resolved: Annotated[bool, typer.Option("--all", help="Include those already resolved.")] = False,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The monitor messages that could not be charted, newest first, with the reason each was refused."""
    from ketaflow.services.monitor_feed import dead_letters as letters

    rows = _run(
        "dead-letters",
        database_url,
        email,
        lambda db, who: letters(db, who, include_resolved=include_resolved),
    )
    data = [
        {
            "id": str(r.id),
            "received_at": r.received_at,
            "sender": r.sender,
            "control_id": r.control_id,
            "ack": r.ack_code,
            "reason": r.reason,
            "where": r.where,
            "attempts": r.attempts,
            "resolved_at": r.resolved_at,
            "resolution": r.resolution,
        }
        for r in rows
    ]
    if as_json:
        emit_json(data)
        return
    for d in data:
        typer.echo(
            f"{d['id']}  {d['received_at']:%Y-%m-%d %H:%M:%S}  {d['ack']}  {d['sender']} #{d['control_id']} "
            f"(x{d['attempts']}): {d['reason']}" + (f"  [{d['resolution']}]" if d["resolution"] else "")
        )
    if not data:
        typer.echo("No monitor messages are waiting.")


def replay(
    letter_id: Annotated[str, typer.Argument(help="The message's id (from `ketaflow hl7 dead-letters`).")],
    email: As,
    database_url: DatabaseUrl = None,
) -> None:
    """Chart a message that could not be charted, once its cause is fixed (a monitor registered, say)."""
    from ketaflow.services.monitor_feed import replay as run_replay

    ident = _uuid(letter_id)
    outcome = _run("replay", database_url, email, lambda db, who: run_replay(db, who, ident, now=_now()))
    if outcome.ack_code == "AA":
        typer.echo("Already charted." if outcome.duplicate else f"Charted {outcome.charted} readings.")
    else:
        fail(f"Still refused ({outcome.ack_code}): {outcome.reason}")


def simulate(
    clinic: Annotated[str, typer.Option("--clinic", help="The clinic's code.")],
    chairs: Annotated[
        int, typer.Option(help="At most this many chairs (with a monitor and a patient).")
    ] = 12,
    interval_s: Annotated[
        float, typer.Option("--interval-s", help="Seconds between a monitor's readings.")
    ] = 30.0,
    to: Annotated[str, typer.Option("--to", help="The listener, HOST:PORT.")] = "127.0.0.1:2575",
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the signals.")] = 0,
    database_url: DatabaseUrl = None,
) -> None:
    """Send realistic monitor readings (ORU^R01 over MLLP) for the patients in a clinic's chairs."""
    from ketaflow.workers.monitor_simulator import simulate_clinic

    host, _, port_text = to.rpartition(":")
    if not host or not port_text.isdigit():
        fail(f"--to must be HOST:PORT, like 127.0.0.1:2575; got {to!r}.")
    if interval_s <= 0 or chairs < 1:
        fail("--interval-s must be above 0 and --chairs at least 1.")
    engine = _engine(database_url)

    async def run() -> None:
        try:
            await simulate_clinic(
                engine,
                clinic,
                chairs=chairs,
                interval_s=interval_s,
                host=host,
                port=int(port_text),
                seconds=seconds,
                seed=seed,
                say=lambda line: typer.echo(line, err=True),
            )
        except KetaflowError as exc:
            fail(str(exc))

    _run_async(run)


def send(
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="The destination's MLLP listener, HOST:PORT (default: KETAFLOW_HL7_DESTINATION)."
        ),
    ] = None,
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")
    ] = None,
    every_s: Annotated[
        float, typer.Option("--every-s", help="Seconds between passes over the outbox.")
    ] = 1.0,
    database_url: DatabaseUrl = None,
) -> None:
    """Deliver the outbox's HL7 messages (ADT, RAS) to a destination, in order per patient, until each
    is acknowledged (a destination that is down is retried with back-off; nothing is lost)."""
    import asyncio
    import logging

    from ketaflow.settings import get_settings
    from ketaflow.workers.hl7_sender import Hl7Sender

    to = to or get_settings().hl7_destination
    if not to:
        fail("Name the destination: --to HOST:PORT, or set KETAFLOW_HL7_DESTINATION.")
    host, _, port_text = to.rpartition(":")
    if not host or not port_text.isdigit():
        fail(f"--to must be HOST:PORT, like 10.0.0.5:2575; got {to!r}.")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    engine = _engine(database_url)

    async def run() -> None:
        sender = Hl7Sender(engine, host, int(port_text))
        loop = asyncio.get_running_loop()
        ends = None if seconds is None else loop.time() + seconds
        try:
            while _remaining(ends, loop.time()) > 0:
                if await sender.round():
                    typer.echo(f"delivered {sender.sent} so far", err=True)
                await asyncio.sleep(every_s)
        finally:
            await sender.close()

    _run_async(run)


def outbox(
    email: As,
    include_done: Annotated[bool, typer.Option("--all", help="Include those delivered or refused.")] = False,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The clinic's outgoing HL7 messages waiting for their destination (or, with --all, every one)."""
    from ketaflow.services.hl7_outbox import outbox_view

    rows = _run(
        "outbox", database_url, email, lambda db, who: outbox_view(db, who, include_done=include_done)
    )
    data = [
        {
            "id": str(r.id),
            "kind": r.kind,
            "control_id": r.control_id,
            "patient_id": str(r.patient_id),
            "enqueued_at": r.enqueued_at,
            "attempts": r.attempts,
            "next_attempt_at": r.next_attempt_at,
            "acked_at": r.acked_at,
            "ack": r.ack_code,
            "refused": r.refused,
            "last_error": r.last_error,
        }
        for r in rows
    ]
    if as_json:
        emit_json(data)
        return
    for d in data:
        state = (
            f"refused ({d['ack']}): {d['last_error']}"
            if d["refused"]
            else f"delivered ({d['ack']})"
            if d["acked_at"]
            else f"waiting, {d['attempts']} attempts" + (f": {d['last_error']}" if d["last_error"] else "")
        )
        typer.echo(f"{d['enqueued_at']:%Y-%m-%d %H:%M:%S}  {d['kind']}  #{d['control_id']}  {state}")
    if not data:
        typer.echo("Nothing is waiting to be sent.")


def register(app: typer.Typer) -> None:
    hl7_app.command()(listen)
    hl7_app.command("dead-letters")(dead_letters)
    hl7_app.command()(replay)
    hl7_app.command()(simulate)
    hl7_app.command()(send)
    hl7_app.command()(outbox)
    monitors_app.command("add")(monitors_add)
    monitors_app.command("list")(monitors_list)
    monitors_app.command("retire")(monitors_retire)
    app.add_typer(hl7_app, name="hl7")
