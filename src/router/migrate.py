"""Schema migrations: `router migrate` upgrades to head, `--revision base` downgrades."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from router.db import create_engine


def migrations_dir() -> Path:
    """The Alembic scripts: packaged beside the code in a wheel, or the repository's folder."""
    packaged = Path(__file__).parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option(
        "file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(slug)s"
    )
    return config


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`, holding an advisory lock so racing jobs queue up."""
    await _run(url, revision, up=True)


async def downgrade(url: str, revision: str = "base") -> None:
    """Revert migrations down to `revision`."""
    await _run(url, revision, up=False)


# Any fixed number works; it only has to be the same in every process of the router.
_MIGRATION_LOCK = 7_260_001


async def _run(url: str, revision: str, *, up: bool) -> None:
    config = alembic_config(url)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
            try:
                step = _upgrade if up else _downgrade
                await connection.run_sync(step, config, revision)
                await connection.commit()
            finally:
                await connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
                await connection.commit()
    finally:
        await engine.dispose()


def upgrade_sync(url: str, revision: str = "head") -> None:
    asyncio.run(upgrade(url, revision))
