"""`router dlq` names dead letters as PARTITION:OFFSET."""

from __future__ import annotations

import pytest

from router.dead_letters import BadArguments, parse_position


@pytest.mark.parametrize(("text", "position"), [("0:0", (0, 0)), ("11:4096", (11, 4096))])
def test_positions_are_partition_colon_offset(text: str, position: tuple[int, int]) -> None:
    assert parse_position(text) == position


@pytest.mark.parametrize("text", ["", "3", "3:", ":4", "-1:2", "a:b", "3:4:5", "3.0:1"])
def test_anything_else_is_a_bad_argument(text: str) -> None:
    with pytest.raises(BadArguments, match="PARTITION:OFFSET"):
        parse_position(text)
