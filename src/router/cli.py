"""`router`: serve, consume, dlq, migrate, config, create-key, revoke-key, openapi."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence

from router import __version__
from router.observability import logs
from router.settings import Settings, get_settings


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from router.app import create_app

    if args.with_consumer:
        settings = settings.model_copy(update={"serve_with_consumer": True})
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.http_host,
        port=args.port if args.port is not None else settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,  # keep the router's JSON logging
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    return 0


def _consume(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.transport_is_kafka():
        print("router consume needs ROUTER_KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    from router.routing.runner import run_consumer

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


def _config(settings: Settings, args: argparse.Namespace) -> int:
    print(json.dumps(settings.effective(), indent=2, default=str))
    return 0


def _create_key(settings: Settings, args: argparse.Namespace) -> int:
    from router.auth.keys import create_key

    return asyncio.run(create_key(settings, role=args.role, name=args.name, agent=args.agent))


def _revoke_key(settings: Settings, args: argparse.Namespace) -> int:
    from router.auth.keys import revoke

    return asyncio.run(revoke(settings, args.prefix))


def _openapi(settings: Settings, args: argparse.Namespace) -> int:
    from router.openapi import write_spec

    path = write_spec(args.output)
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

    add_dlq_commands(commands)

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
    args = parser().parse_args(argv)
    settings = get_settings()
    logs.configure(settings.log_level, log_bodies=settings.log_bodies, json_lines=settings.log_json)
    code: int = args.run(settings, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
