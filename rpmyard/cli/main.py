"""`rpmyard` entry point. Admin commands work on the database directly, so run them on the
frontend host with the same settings as `rpmyard serve`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from rpmyard.builder.target import InvalidChroot, Target
from rpmyard.builds.errors import UserError
from rpmyard.config import Settings, load_settings
from rpmyard.db.models import MockChroot
from rpmyard.frontend.accounts import copr_config, create_user

app = typer.Typer(help="rpmyard: a self-hosted RPM build service that speaks the Copr API.",
                  no_args_is_help=True)
user_app = typer.Typer(help="Manage users and their API tokens.", no_args_is_help=True)
chroot_app = typer.Typer(help="Manage the chroots (build targets) this instance offers.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(chroot_app, name="chroot")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file ($RPMYARD_CONFIG)")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="data directory ($RPMYARD_DATA_DIR)")]


def _yard(config: Path | None, data_dir: Path | None, **overrides: object):  # type: ignore[no-untyped-def]
    from rpmyard.yard import Yard

    settings = load_settings(config, data_dir=data_dir, **overrides)
    yard = Yard(settings)
    yard.init_db()
    return yard


@app.command()
def serve(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="local builder slots (0: none)")] = None,
    dispatcher: Annotated[bool | None, typer.Option(
        "--dispatcher/--no-dispatcher", help="run the dispatcher here (else: `rpmyard dispatcher`)")] = None,
) -> None:
    """Run the frontend, the dispatcher, the publisher and local builder slots in one process."""
    import threading

    import uvicorn

    from rpmyard.frontend.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    yard = _yard(config, data_dir, host=host, port=port, workers=workers, dispatcher=dispatcher)
    settings: Settings = yard.settings
    yard.start(dispatcher=settings.dispatcher)
    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM after its own shutdown, so a `finally` here would never run:
        stop the service's threads as part of the server's shutdown instead."""

        async def shutdown(self, sockets: object = None) -> None:
            await super().shutdown(sockets=sockets)  # type: ignore[arg-type]
            yard.stop()

    server = Server(uvicorn.Config(create_app(yard), host=settings.host, port=settings.port,
                                           log_level="warning", timeout_keep_alive=30))

    def start_workers_when_listening() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            yard.start_local_workers(settings.local_slots)
            typer.echo(f"rpmyard is serving {settings.base_url} "
                       f"(data in {settings.data_dir}, {settings.local_slots} local builder slots)", err=True)

    threading.Thread(target=start_workers_when_listening, daemon=True).start()
    try:
        server.run()
    finally:
        yard.stop()


@app.command()
def migrate(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Create or upgrade the database schema (serve does this too)."""
    _yard(config, data_dir)
    typer.echo("database is at the newest schema")


@user_app.command("add")
def user_add(
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="make the user an administrator")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a user and print a ready ~/.config/copr for copr-cli."""
    yard = _yard(config, data_dir)
    try:
        with yard.db.session() as s:
            user, token = create_user(s, name, admin=admin, token_days=yard.settings.token_days)
            text = copr_config(user, token, yard.settings.base_url)
    except UserError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(text, nl=False)


@user_app.command("passwd")
def user_passwd(
    name: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Set a user's web password (Argon2id); ends that user's browser sessions."""
    import sys

    from rpmyard.frontend.web.auth import set_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    yard = _yard(config, data_dir)
    try:
        with yard.db.session() as s:
            set_password(s, name, password)
    except UserError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"web password of {name} is set")


@chroot_app.command("list")
def chroot_list(
    all_: Annotated[bool, typer.Option("--all", help="include disabled chroots")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """List the chroots projects can enable."""
    yard = _yard(config, data_dir)
    with yard.db.session() as s:
        for c in s.scalars(select(MockChroot).order_by(MockChroot.name)):
            if c.is_active or all_:
                typer.echo(f"{c.name}{'' if c.is_active else '  (disabled)'}")


@chroot_app.command("add")
def chroot_add(name: str, comment: str = "", config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Offer a new chroot (or enable a disabled one), e.g. `fedora-46-x86_64`."""
    try:
        Target.parse(name)
    except InvalidChroot as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    yard = _yard(config, data_dir)
    with yard.db.session() as s:
        c = s.scalar(select(MockChroot).where(MockChroot.name == name))
        if c is None:
            s.add(MockChroot(name=name, is_active=True, comment=comment))
        else:
            c.is_active = True
            c.comment = comment or c.comment
    typer.echo(f"chroot {name} is active")


@chroot_app.command("disable")
def chroot_disable(name: str, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Stop offering a chroot to new projects and builds (existing results stay)."""
    yard = _yard(config, data_dir)
    with yard.db.session() as s:
        c = s.scalar(select(MockChroot).where(MockChroot.name == name))
        if c is None:
            typer.echo(f"error: no chroot named {name}", err=True)
            raise typer.Exit(1)
        c.is_active = False
    typer.echo(f"chroot {name} is disabled")


@app.command()
def worker(
    broker: Annotated[str, typer.Option("--broker", envvar="RPMYARD_BROKER_URL", help="amqp:// URL of RabbitMQ")],
    frontend: Annotated[str, typer.Option("--frontend", envvar="RPMYARD_FRONTEND_URL",
                                          help="the frontend's base URL, for logs and uploads")],
    name: Annotated[str | None, typer.Option(help="worker name (default: host name)")] = None,
    arch: Annotated[list[str] | None, typer.Option("--arch", help="arch it builds (repeatable; default: host)")] = None,
    slots: Annotated[int, typer.Option(help="builds at once")] = 1,
    workdir: Annotated[Path | None, typer.Option(help="scratch directory for builds")] = None,
    heartbeat: Annotated[float, typer.Option(help="seconds between heartbeats")] = 2.0,
    memory_mb: Annotated[int, typer.Option("--memory-mb", help="address-space limit per build (0: none)")] = 0,
    token: Annotated[str, typer.Option("--token", envvar="RPMYARD_WORKER_TOKEN",
                                       help="the frontend's worker_token, if it sets one")] = "",
    drain: Annotated[bool, typer.Option("--drain", help="tell the running worker --name to drain and exit")] = False,
) -> None:
    """Run builder slots on this host: take tasks from the bus, build, upload to the frontend.

    It holds no database credentials. SIGTERM or Ctrl-C drains: current builds finish, no new
    ones are taken, then it exits; a second signal cancels the running builds.
    """
    import signal
    import socket
    import threading

    from rpmyard.builder.runner import RpmBuildRunner
    from rpmyard.builder.sandbox import mock_available, sandbox_backend
    from rpmyard.builder.target import host_arches
    from rpmyard.dispatch.bus import make_bus
    from rpmyard.dispatch.worker import WorkerRuntime

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("pika").setLevel(logging.WARNING)
    worker_name = name or socket.gethostname()
    if drain:
        from rpmyard.dispatch.bus import worker_queue

        bus = make_bus(broker)
        bus.publish(worker_queue(worker_name), {"type": "drain"})
        bus.close()
        typer.echo(f"asked worker {worker_name} to drain: it finishes its builds, takes no more, then exits")
        return
    runtime = WorkerRuntime(
        name=worker_name,
        bus=make_bus(broker),
        frontend_url=frontend,
        runners=[RpmBuildRunner(memory_mb)],
        slots=slots,
        arches=[*(arch or host_arches()), "noarch"],
        heartbeat_seconds=heartbeat,
        workroot=workdir or Path.home() / ".cache" / "rpmyard-worker" / worker_name,
        extra_inventory={"sandbox": sandbox_backend(), "mock": mock_available()},
        token=token,
    )
    stop = threading.Event()
    signals = {"n": 0}

    def on_signal(_sig: int, _frame: object) -> None:
        signals["n"] += 1
        if signals["n"] == 1:
            typer.echo(f"worker {worker_name}: draining ({runtime.busy()} running)", err=True)
            runtime.drain()
        else:
            typer.echo(f"worker {worker_name}: canceling running builds", err=True)
            runtime.stop()
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runtime.start()
    typer.echo(f"worker {worker_name} is up: {slots} slots, arches {', '.join(runtime.arches)}", err=True)
    while not stop.wait(0.5) and not runtime.drain_requested.is_set():
        pass
    while runtime.busy() and signals["n"] < 2:
        stop.wait(0.5)
    runtime.stop()


@app.command("dispatcher")
def dispatcher_cmd(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Run only the dispatcher (next to `rpmyard serve --no-dispatcher`, sharing its database and
    results storage). Start two: one leads, the other takes over within a second of its death."""
    import signal
    import threading

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)
    yard = _yard(config, data_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    yard.start()
    typer.echo("dispatcher started; waiting for leadership", err=True)
    stop.wait()
    yard.stop()


@app.command("workers")
def workers_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """List every worker: state, host, arches, slots, running tasks, heartbeat age."""
    import json

    from rpmyard.dispatch import fleet

    yard = _yard(config, data_dir)
    with yard.db.session() as s:
        rows = fleet.workers(s, yard.settings.lease_seconds)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'NAME':24} {'STATE':9} {'HOST':20} {'ARCHES':22} {'SLOTS':>5} {'BUSY':>4} {'HEARTBEAT':>9}")
    for w in rows:
        typer.echo(f"{w['name']:24} {w['state']:9} {str(w['host']):20} {','.join(w['arches']):22} "
                   f"{w['slots']:>5} {len(w['tasks']):>4} {w['heartbeat_age']:>8.1f}s")


@app.command("tasks")
def tasks_cmd(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """List the task kinds the live fleet can run, and the queue."""
    import json

    from rpmyard.dispatch import fleet

    yard = _yard(config, data_dir)
    with yard.db.session() as s:
        kinds = fleet.task_kinds(s, yard.settings.lease_seconds)
        queue = fleet.queue_summary(s)
    typer.echo(f"{'KIND':16} {'VERSIONS':12} {'WORKERS':>7} {'SLOTS':>5}")
    for kind, k in kinds.items():
        typer.echo(f"{kind:16} {','.join(k['versions']):12} {k['workers']:>7} {k['slots']:>5}")
    typer.echo("queue: " + json.dumps(queue))
