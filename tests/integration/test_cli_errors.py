"""Mistakes a new user makes stop `router` with one line naming the variable and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from devstack.net import free_port

ROUTER = str(Path(sys.executable).with_name("router"))


def _run(*argv: str, timeout: float = 60, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    env.update(variables)
    return subprocess.run(
        [ROUTER, *argv], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _log_records(stderr: str) -> list[dict[str, object]]:
    """Every line but the last (the one-line verdict) parses as a JSON log record."""
    return [json.loads(line) for line in stderr.splitlines()[:-1]]


@pytest.mark.parametrize(
    "argv",
    [
        ["config"],
        ["serve"],
        ["consume"],
        ["migrate"],
        ["dlq", "list"],
        ["create-key", "--role", "admin", "--name", "ops"],
        ["revoke-key", "abcdefabcdef"],
        ["openapi", "--output", "never-written.json"],
    ],
)
def test_every_command_refuses_a_misspelt_variable(argv: list[str], tmp_path: Path) -> None:
    result = _run(*argv, ROUTER_DATABSE_URL="postgresql://router@db.internal/router")
    assert result.returncode == 2
    assert result.stderr == (
        "router: ROUTER_DATABSE_URL is not a setting; did you mean ROUTER_DATABASE_URL?\n"
    )
    assert result.stdout == ""
    assert not Path("never-written.json").exists()


def test_the_tooling_variables_are_not_refused() -> None:
    result = _run(
        "config",
        ROUTER_TEST_DATABASE_URL="postgresql://router@db.internal/tests",
        ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9092",
        ROUTER_DEVSTACK_CACHE="/tmp/devstack",
        ROUTER_SMOKE_KEEP="1",
        ROUTER_IMAGE_TAG="local",
        ROUTER_HTTP_PUBLISH="127.0.0.1:8000",
    )
    assert result.returncode == 0, result.stderr
    assert "ROUTER_TEST_DATABASE_URL" not in json.loads(result.stdout)


def test_a_value_that_does_not_parse_is_one_line_naming_the_variable() -> None:
    result = _run("serve", ROUTER_HTTP_PORT="eighty")
    assert result.returncode == 2
    assert result.stderr == (
        "router: ROUTER_HTTP_PORT='eighty': Input should be a valid integer, "
        "unable to parse string as an integer\n"
    )


def _unreachable_url() -> str:
    return f"postgresql://router:hunter2@127.0.0.1:{free_port()}/router?password=hunter3"


def test_migrate_on_an_unreachable_database_is_one_line() -> None:
    url = _unreachable_url()
    result = _run("migrate", ROUTER_DATABASE_URL=url)
    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    masked = url.replace("hunter2", "***").replace("hunter3", "***")
    assert last.startswith(f"router: cannot reach the database at ROUTER_DATABASE_URL={masked}: ")
    assert "ConnectionRefusedError" in last
    assert "Traceback" not in result.stderr
    assert "hunter" not in result.stderr
    _log_records(result.stderr)


def test_the_traceback_is_logged_when_asked_for() -> None:
    result = _run("--traceback", "migrate", ROUTER_DATABASE_URL=_unreachable_url())
    assert result.returncode == 2
    records = _log_records(result.stderr)
    [failure] = [record for record in records if "exception" in record]
    assert str(failure["exception"]).startswith("Traceback (most recent call last):")
    assert result.stderr.splitlines()[-1].startswith("router: cannot reach the database")


def test_serve_on_an_unreachable_database_is_one_line() -> None:
    result = _run(
        "serve", ROUTER_DATABASE_URL=_unreachable_url(), ROUTER_HTTP_PORT=str(free_port())
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1].startswith("router: cannot reach the database at ")
    assert "Traceback" not in result.stderr
    for record in _log_records(result.stderr):
        assert "color_message" not in record


def test_a_fault_of_the_router_is_one_json_record_with_its_traceback(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    result = _run("openapi", "--output", str(tmp_path / "a-file" / "openapi.json"))
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stderr.splitlines()]
    [fatal] = [record for record in records if record["level"] == "CRITICAL"]
    assert fatal["message"] == "router openapi stopped on an unexpected error"
    assert str(fatal["exception"]).startswith("Traceback (most recent call last):")
    assert "NotADirectoryError" in str(fatal["exception"]) or "FileExistsError" in str(
        fatal["exception"]
    )


def test_a_fatal_error_of_consume_is_json_lines_only(
    database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    # One broker cannot hold three replicas: creating the topics fails, which no setting
    # check foresees (the broker decides).
    result = _run(
        "consume",
        timeout=120,
        ROUTER_DATABASE_URL=database_url,
        ROUTER_KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        ROUTER_TOPIC_INBOUND=f"{topic_prefix}.inbound",
        ROUTER_TOPIC_EVENTS=f"{topic_prefix}.events",
        ROUTER_TOPIC_DLQ=f"{topic_prefix}.dlq",
        ROUTER_TOPIC_REPLICATION_FACTOR="3",
        ROUTER_CONSUMER_HTTP_PORT="0",
    )
    assert result.returncode == 1, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    [fatal] = [record for record in records if record["level"] == "CRITICAL"]
    assert fatal["message"] == "router consume stopped on an unexpected error"
    assert "could not create topic" in str(fatal["exception"])


def test_a_database_that_does_not_exist_is_named_in_one_line(database_url: str) -> None:
    missing = urlunsplit(urlsplit(database_url)._replace(path="/no_such_database"))
    result = _run("migrate", ROUTER_DATABASE_URL=missing)
    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith("router: the database at ROUTER_DATABASE_URL=")
    assert "refused the login: InvalidCatalogNameError" in last
    assert "Traceback" not in result.stderr
