"""`router dlq`: list, show and replay the records the routing engine set aside.

A record is dead-lettered only for its own fault (it cannot be decoded, or the database or
validation refuses its content); once the cause is fixed, `replay` puts it back on the
inbound topic. Replays change nothing already stored: a message's provider id is unique.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from router.inbound.envelope import decode
from router.settings import Settings


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of the dead-letter topic."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str | None:
        """The first header called `name`, as text."""
        for found, value in self.headers:
            if found == name:
                return value.decode("utf-8", "replace")
        return None


class DeadLetterTopicMissing(LookupError):
    """The dead-letter topic does not exist (yet): nothing was ever set aside on it."""


class DeadLetterTopic(Protocol):
    """Where the dead letters are (the broker's dead-letter topic), given by the CLI."""

    async def read(self, wanted: Iterable[tuple[int, int]] | None) -> list[DeadLetter]:
        """The letters at these (partition, offset) positions, or all of them, in order.

        Raises `DeadLetterTopicMissing` when the topic does not exist.
        """
        ...

    async def replay(self, letters: Sequence[DeadLetter]) -> None:
        """Put each letter back on the inbound topic."""
        ...


OpenTopic = Callable[[Settings], DeadLetterTopic]


class BadArguments(ValueError):
    """Arguments that name nothing valid; the command exits 2 with this one line."""


def parse_position(text: str) -> tuple[int, int]:
    """`PARTITION:OFFSET` as two non-negative integers."""
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise BadArguments(f"{text!r} is not PARTITION:OFFSET (two whole numbers, e.g. 3:17)")
    return int(partition), int(offset)


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], open_topic: OpenTopic
) -> None:
    """The `router dlq` subcommands, on the dead-letter topic `open_topic` gives."""
    dlq = commands.add_parser(
        "dlq",
        help="list, show and replay dead-lettered records",
        description="The records the routing engine set aside on the dead-letter topic "
        "(ROUTER_TOPIC_DLQ): list them, show one, or replay them onto the inbound topic.",
    )
    actions = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    actions.add_parser(
        "list",
        help="one line per dead letter",
        description="List the dead letters, one tab-separated line each: position, time, "
        "error, key and event.",
    )
    show = actions.add_parser(
        "show",
        help="a dead letter's headers and value",
        description="Print one dead letter's headers and value, by its PARTITION:OFFSET.",
    )
    show.add_argument("position", help="PARTITION:OFFSET on the dead-letter topic")
    replay = actions.add_parser(
        "replay",
        help="put dead letters back on the inbound topic, with their keys",
        description="Put dead letters (by PARTITION:OFFSET, or --all) back on the inbound "
        "topic with their keys, so the routing engine takes them again.",
    )
    replay.add_argument("positions", nargs="*", help="PARTITION:OFFSET ... (dead-letter topic)")
    replay.add_argument("--all", action="store_true", help="replay every dead letter")
    dlq.set_defaults(run=lambda settings, args: run(settings, args, open_topic))


def run(settings: Settings, args: argparse.Namespace, open_topic: OpenTopic) -> int:
    """Run `router dlq ...`: 0 on success, 2 with one line on bad arguments."""
    import asyncio
    import logging

    # The client's routine notes (subscriptions, connections) are noise around a command's
    # answer; its warnings and errors still show.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    if not settings.transport_is_kafka():
        print("router dlq needs ROUTER_KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(settings, args, open_topic(settings)))
    except BadArguments as error:
        print(f"router dlq: {error}", file=sys.stderr)
        return 2


async def _run(settings: Settings, args: argparse.Namespace, topic: DeadLetterTopic) -> int:
    wanted: list[tuple[int, int]] | None = None
    if args.dlq_command == "show":
        wanted = [parse_position(args.position)]
    elif args.dlq_command == "replay":
        if args.all == bool(args.positions):
            raise BadArguments("replay takes PARTITION:OFFSET positions or --all (one of them)")
        wanted = None if args.all else [parse_position(text) for text in args.positions]
    try:
        letters = await topic.read(wanted)
    except DeadLetterTopicMissing as error:
        raise BadArguments(str(error)) from None
    if wanted is not None:
        found = {(letter.partition, letter.offset) for letter in letters}
        missing = [f"{p}:{o}" for p, o in wanted if (p, o) not in found]
        if missing:
            raise BadArguments(f"no dead letter at {', '.join(missing)} on {settings.topic_dlq}")
    if args.dlq_command == "list":
        _print_list(letters)
    elif args.dlq_command == "show":
        print(json.dumps(_shown(letters[0]), indent=2, ensure_ascii=False))
    else:
        await topic.replay(letters)
        for letter in letters:
            print(f"replayed {letter.partition}:{letter.offset} to {settings.topic_inbound}")
    return 0


_COLUMNS = ("position", "time", "error_type", "key", "event_type", "event_id", "error")


def _print_list(letters: Sequence[DeadLetter]) -> None:
    print("\t".join(_COLUMNS))
    for letter in letters:
        event_type, event_id = _event(letter.value)
        row = (
            f"{letter.partition}:{letter.offset}",
            _time(letter.timestamp_ms),
            letter.header("router-error-type") or "-",
            _text(letter.key) or "-",
            event_type,
            event_id,
            (letter.header("router-error") or "-")[:200],
        )
        print("\t".join(value.replace("\t", " ").replace("\n", " ") for value in row))


def _event(value: bytes | None) -> tuple[str, str]:
    """The event's type and id when the value decodes, else dashes."""
    try:
        event = decode(value or b"")
    except ValueError:  # pydantic's ValidationError included
        return "-", "-"
    return event.type, event.event_id


def _time(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds")


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def _shown(letter: DeadLetter) -> dict[str, object]:
    shown: dict[str, object] = {
        "position": f"{letter.partition}:{letter.offset}",
        "time": _time(letter.timestamp_ms),
        "key": _text(letter.key),
        "headers": [[name, value.decode("utf-8", "replace")] for name, value in letter.headers],
    }
    try:
        shown["value"] = None if letter.value is None else letter.value.decode("utf-8")
    except UnicodeDecodeError:
        shown["value_base64"] = base64.b64encode(letter.value or b"").decode()
    return shown
