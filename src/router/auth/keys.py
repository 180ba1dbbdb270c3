"""`router create-key` and `router revoke-key`: key administration from the command line."""

from __future__ import annotations

import getpass
import sys

from router.auth.roles import Role
from router.auth.service import issue_key, revoke_key
from router.bootstrap import resolve_database
from router.db import create_engine, create_sessionmaker, transaction
from router.errors import ProblemError
from router.inbound.envelope import utcnow
from router.settings import Settings


def command_line_actor() -> str:
    """Who runs the command, as the audit trail names them: `cli:USER`."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in a bare container
        return "cli"


async def create_key(settings: Settings, *, role: str, name: str, agent: str | None) -> int:
    """Issue a key and print it once; exit 1 (with the reason) when it cannot be issued."""
    database = resolve_database(settings)
    if settings.database_is_embedded() or settings.migrate_on_start:
        from router.migrate import upgrade

        await upgrade(database.url)
    engine = create_engine(database.url, pool_size=1)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            issued = await issue_key(
                session,
                role=Role(role),
                name=name,
                actor=command_line_actor(),
                agent_handle=agent,
            )
    except ProblemError as error:
        print(f"router: {error.detail}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(issued.token)
    print(
        f"router: {role} key {issued.prefix} issued; it is shown only now, store it safely",
        file=sys.stderr,
    )
    return 0


async def revoke(settings: Settings, prefix: str) -> int:
    """Revoke the key with this prefix; exit 1 when there is no such active key."""
    database = resolve_database(settings)
    engine = create_engine(database.url, pool_size=1)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            await revoke_key(session, prefix, utcnow(), actor=command_line_actor())
    except ProblemError as error:
        print(f"router: {error.detail}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"router: key {prefix} revoked", file=sys.stderr)
    return 0
