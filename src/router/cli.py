"""`router`: serve, consume, dlq, migrate, config, create-key, revoke-key, refresh-reports,
openapi."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from router import __version__
from router.configuration import ConfigurationError, load_settings
from router.masking import mask_url
from router.observability import logs
from router.settings import Settings

log = logging.getLogger("router.cli")

if TYPE_CHECKING:
    from router.dead_letters import DeadLetterTopic


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from router.app import create_app

    if args.with_consumer:
        settings = settings.model_copy(update={"serve_with_consumer": True})
    app = create_app(settings)
    if not args.traceback and settings.log_level != "DEBUG":
        logging.getLogger("uvicorn.error").addFilter(_KnownStartupFailure(app.state, settings))
    try:
        uvicorn.run(
            app,
            host=args.host or settings.http_host,
            port=args.port if args.port is not None else settings.http_port,
            log_level=settings.log_level.lower(),
            access_log=False,
            log_config=None,  # keep the router's JSON logging
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )
    except SystemExit:
        # uvicorn exits when start-up failed; the cause is for `main` to name.
        error = getattr(app.state, "startup_error", None)
        problem = None if error is None else startup_problem(error, settings)
        if problem is not None:
            raise ConfigurationError(problem) from error
        raise
    return 0


class _KnownStartupFailure(logging.Filter):
    """Leaves out uvicorn's traceback of a start-up failure `main` explains in one line."""

    def __init__(self, state: Any, settings: Settings) -> None:
        super().__init__()
        self.state = state
        self.settings = settings

    def filter(self, record: logging.LogRecord) -> bool:
        error = getattr(self.state, "startup_error", None)
        if error is None or not str(record.msg).startswith("Traceback"):
            return True
        return startup_problem(error, self.settings) is None


def _consume(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.transport_is_kafka():
        print("router consume needs ROUTER_KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    from router.bootstrap import run_consumer

    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        return runner.run(run_consumer(settings))


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (as `router serve` runs on it), else asyncio's own loop.

    The consumer's batch is mostly socket writes to PostgreSQL and Kafka, which uvloop does
    in C.
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from router.bootstrap import resolve_database
    from router.migrate import downgrade, upgrade

    database = resolve_database(settings)
    if args.downgrade:
        asyncio.run(downgrade(database.url, args.revision or "base"))
        print(f"router: {database.label} downgraded to {args.revision or 'base'}")
    else:
        asyncio.run(upgrade(database.url, args.revision or "head"))
        print(f"router: {database.label} migrated to {args.revision or 'head'}")
    return 0


def _dead_letter_topic(settings: Settings) -> DeadLetterTopic:
    from adapters.kafka.dead_letters import KafkaDeadLetterTopic

    return KafkaDeadLetterTopic(settings)


def _config(settings: Settings, args: argparse.Namespace) -> int:
    print(json.dumps(settings.effective(), indent=2, default=str))
    return 0


def _create_key(settings: Settings, args: argparse.Namespace) -> int:
    from router.auth.keys import create_key

    return asyncio.run(create_key(settings, role=args.role, name=args.name, agent=args.agent))


def _revoke_key(settings: Settings, args: argparse.Namespace) -> int:
    from router.auth.keys import revoke

    return asyncio.run(revoke(settings, args.prefix))


def _refresh_reports(settings: Settings, args: argparse.Namespace) -> int:
    from router.bootstrap import resolve_database
    from router.db import create_engine, create_sessionmaker
    from router.inbound.envelope import utcnow
    from router.reports.refresher import refresh

    async def refresh_all() -> int:
        engine = create_engine(resolve_database(settings).url, pool_size=1)
        keep = timedelta(days=settings.reports_keep_days)
        kept = 0
        try:
            while computed := await refresh(create_sessionmaker(engine), utcnow(), keep, 60.0):
                kept += computed
        finally:
            await engine.dispose()
        return kept

    kept = asyncio.run(refresh_all())
    print(f"router: kept {kept} report days", file=sys.stderr)
    return 0


def _openapi(settings: Settings, args: argparse.Namespace) -> int:
    from router.app import create_app
    from router.openapi import write_spec

    path = write_spec(create_app(Settings()).openapi(), args.output)
    print(f"router: wrote {path}")
    return 0


def command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
) -> argparse.ArgumentParser:
    """A subcommand: `summary` in `router --help`, `description` in its own `--help`."""
    return commands.add_parser(name, help=summary, description=description)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="router",
        description="The conversation router: channel webhooks in, one owner per conversation.",
        epilog="Configuration is the ROUTER_ environment; `router config` prints it.",
    )
    root.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    root.add_argument(
        "--traceback",
        action="store_true",
        help="also log the traceback of a configuration or connection error "
        "(as ROUTER_LOG_LEVEL=DEBUG does)",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = command(
        commands,
        "serve",
        "run the HTTP API and webhooks",
        "Serve the HTTP API (/v1), the channel webhooks and the health probes. With nothing "
        "configured it starts an embedded PostgreSQL (data under ROUTER_DATA_DIR) and routes "
        "inline instead of through Kafka.",
    )
    serve.add_argument("--host", help="bind address (default ROUTER_HTTP_HOST)")
    serve.add_argument("--port", type=int, help="port (default ROUTER_HTTP_PORT)")
    serve.add_argument(
        "--with-consumer", action="store_true", help="also run the routing engine in-process"
    )
    serve.set_defaults(run=_serve)

    consume = command(
        commands,
        "consume",
        "run the routing engine on Kafka",
        "Consume router.inbound.v1 in the consumer group ROUTER_CONSUMER_GROUP, route every "
        "conversation to one owner, run the offer and queue sweeps and relay the outbox to "
        "router.events.v1. Needs ROUTER_KAFKA_BOOTSTRAP_SERVERS.",
    )
    consume.set_defaults(run=_consume)

    from router.dead_letters import add_commands as add_dlq_commands

    add_dlq_commands(commands, _dead_letter_topic)

    migrate = command(
        commands,
        "migrate",
        "apply database migrations",
        "Apply the database migrations up to --revision (default head), or revert them with "
        "--downgrade (default base), under an advisory lock, then exit.",
    )
    migrate.add_argument("--revision", help="target revision (default head, or base)")
    migrate.add_argument("--downgrade", action="store_true", help="revert instead of apply")
    migrate.set_defaults(run=_migrate)

    config = command(
        commands,
        "config",
        "print the effective settings, secrets masked",
        "Print the settings in force (ROUTER_ environment and defaults) as JSON, secrets masked.",
    )
    config.set_defaults(run=_config)

    create_key = command(
        commands,
        "create-key",
        "issue an API key (printed once; only its hash is stored)",
        "Issue an API key for the /v1 API and print it once; only its hash is stored. The "
        "first admin key of a new installation: router create-key --role admin --name NAME.",
    )
    create_key.add_argument("--role", required=True, choices=["agent", "supervisor", "admin"])
    create_key.add_argument("--agent", help="handle of the agent the key acts as")
    create_key.add_argument("--name", required=True, help="what the key is for, e.g. a person")
    create_key.set_defaults(run=_create_key)

    revoke_key = command(
        commands,
        "revoke-key",
        "revoke an API key by its prefix",
        "Revoke an API key, named by the 12 characters after `rk_`; requests with it answer 401.",
    )
    revoke_key.add_argument("prefix", help="the 12 characters after `rk_`")
    revoke_key.set_defaults(run=_revoke_key)

    refresh_reports = command(
        commands,
        "refresh-reports",
        "keep every report day missing now",
        "Consume the changes noted since the last refresh and compute every missing report day "
        "of each time zone and grouping asked for, then exit (the sweep does this a little at "
        "a time; see docs/reports.md#report-days).",
    )
    refresh_reports.set_defaults(run=_refresh_reports)

    openapi = command(
        commands,
        "openapi",
        "write the OpenAPI spec of the HTTP API",
        "Write the OpenAPI document of the HTTP API (default openapi/openapi.json).",
    )
    openapi.add_argument("--output", help="target file (default openapi/openapi.json)")
    openapi.set_defaults(run=_openapi)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a configuration or connection mistake is one line and exit code 2."""
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigurationError as error:
        print(f"router: {error}", file=sys.stderr, flush=True)
        return 2
    logs.configure(settings.log_level, log_bodies=settings.log_bodies, json_lines=settings.log_json)
    try:
        code: int = args.run(settings, args)
    except Exception as error:
        problem = startup_problem(error, settings)
        if problem is None:
            # A fault of the router itself: its traceback, as one log record (a JSON line).
            log.critical("router %s stopped on an unexpected error", args.command, exc_info=True)
            return 1
        if args.traceback or settings.log_level == "DEBUG":
            log.error("router %s: %s", args.command, problem, exc_info=True)
        print(f"router: {problem}", file=sys.stderr, flush=True)
        return 2
    return code


def startup_problem(error: BaseException, settings: Settings) -> str | None:
    """What an operator must fix, naming the variable, when `error` is theirs to fix."""
    from aiokafka.errors import KafkaConnectionError
    from sqlalchemy.exc import ArgumentError

    from router.db import is_unreachable, refuses_login

    if isinstance(error, ConfigurationError):
        return str(error)
    if settings.database_url is not None:
        where = f"ROUTER_DATABASE_URL={mask_url(settings.database_url.get_secret_value())}"
    else:
        where = f"the embedded PostgreSQL (ROUTER_DATA_DIR={settings.data_dir})"
    if isinstance(error, ArgumentError) or (
        isinstance(error, ValueError) and "database URL" in str(error)
    ):
        return f"{where} is not a PostgreSQL URL (postgresql+asyncpg://user:pass@host/db)"
    # Only a network error says the database is out of reach (a file error is the router's).
    if is_unreachable(error) and (
        not isinstance(error, OSError)
        or isinstance(error, (ConnectionError, TimeoutError, socket.gaierror))
    ):
        return f"cannot reach the database at {where}: {_innermost(error)}"
    if refuses_login(error):
        return f"the database at {where} refused the login: {_innermost(error)}"
    if isinstance(error, KafkaConnectionError):
        brokers = settings.kafka_bootstrap_servers
        return f"cannot reach Kafka at ROUTER_KAFKA_BOOTSTRAP_SERVERS={brokers}: {error}"
    return None


def _under(error: BaseException) -> BaseException | None:
    if error.__cause__ is not None or error.__suppress_context__:
        return error.__cause__
    return error.__context__


def _innermost(error: BaseException) -> str:
    """The root cause in one line (`ConnectionRefusedError: [Errno 111] ...`)."""
    seen = {id(error)}
    while (under := _under(error)) is not None and id(under) not in seen:
        seen.add(id(under))
        error = under
    first = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
