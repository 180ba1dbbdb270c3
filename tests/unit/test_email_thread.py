"""Email reply threading: one canonical id form, References built and bounded, one `Re:`."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.channels.email.parsing import message_ids
from router.outbound.email_thread import (
    MAX_REFERENCES,
    MAX_REFERENCES_CHARS,
    canonical_message_id,
    header_ids,
    outbound_message_id,
    reply_subject,
    reply_thread,
    trimmed_references,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<ABC@Host.example>", "abc@host.example"),
        ("abc@host.example", "abc@host.example"),
        ("  <abc@host.example>  ", "abc@host.example"),
        ("<>", None),
        ("", None),
        (None, None),
    ],
)
def test_every_form_of_an_id_has_one_canonical_form(raw: str | None, expected: str | None) -> None:
    assert canonical_message_id(raw) == expected


def test_a_reply_answers_the_parent_and_references_its_thread_then_it() -> None:
    thread = reply_thread("<M2@c.example>", ["m1@c.example", "<r1@shop.example>"])
    assert thread.in_reply_to == "m2@c.example"
    assert thread.references == ("m1@c.example", "r1@shop.example", "m2@c.example")
    assert header_ids(thread.references) == "<m1@c.example> <r1@shop.example> <m2@c.example>"


def test_a_parent_without_references_starts_the_references() -> None:
    assert reply_thread("m1@c.example", []).references == ("m1@c.example",)
    assert reply_thread(None, []).references == ()


def test_the_parent_is_the_last_reference_even_when_it_listed_itself() -> None:
    thread = reply_thread("b@x", ["a@x", "b@x", "c@x"])
    assert thread.references == ("a@x", "c@x", "b@x")


@given(st.lists(st.from_regex(r"[a-z0-9]{1,60}@[a-z]{1,20}\.example", fullmatch=True), max_size=80))
def test_references_keep_the_first_and_the_latest_within_the_bounds(ids: list[str]) -> None:
    unique = list(dict.fromkeys(ids))
    kept = trimmed_references(unique)
    assert len(kept) <= MAX_REFERENCES
    assert len(header_ids(kept)) <= MAX_REFERENCES_CHARS
    if unique:
        assert kept[0] == unique[0]
        assert kept[-1] == unique[-1]
        # The middle goes, never the end: what is kept after the first is a tail.
        assert kept[1:] == unique[len(unique) - len(kept) + 1 :]


def test_a_long_thread_stays_bounded_reply_after_reply() -> None:
    references: tuple[str, ...] = ()
    parent = "first@c.example"
    for turn in range(100):
        thread = reply_thread(parent, references)
        references = thread.references
        parent = f"{turn}@c.example"
    assert references[0] == "first@c.example"
    assert len(references) <= MAX_REFERENCES


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Order 4521", "Re: Order 4521"),
        ("Re: Order 4521", "Re: Order 4521"),
        ("RE: re: Re:Order 4521", "Re: Order 4521"),
        ("Re[2]: Order 4521", "Re: Order 4521"),
        ("Aw: Order 4521", "Re: Aw: Order 4521"),
        ("Regarding 4521", "Re: Regarding 4521"),
        ("", "Re: your message"),
        (None, "Re: your message"),
    ],
)
def test_the_subject_gets_one_re(subject: str | None, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_our_message_id_takes_the_configured_domain_else_the_senders() -> None:
    row = uuid.UUID("0b7f0f5e-3a53-4d36-8d3e-0c8a8f7f1a21")
    assert outbound_message_id(row, "Support@Shop.example") == f"{row}@shop.example"
    assert outbound_message_id(row, "support@shop.example", "mail.shop.example") == (
        f"{row}@mail.shop.example"
    )


def test_half_bracketed_references_read_in_order() -> None:
    # What a mail program copies from a reply that mixed bare and bracketed ids.
    raw = "m1@c.example r1@shop.example <m2@c.example>\r\n <r2@shop.example>"
    assert message_ids(raw) == [
        "m1@c.example",
        "r1@shop.example",
        "m2@c.example",
        "r2@shop.example",
    ]


@given(st.lists(st.from_regex(r"[A-Za-z0-9.=_-]{1,30}@[a-z]{1,20}\.example", fullmatch=True)))
def test_the_parser_reads_back_what_a_reply_writes(ids: list[str]) -> None:
    canonical = [value.lower() for value in dict.fromkeys(value.lower() for value in ids)]
    assert message_ids(header_ids(canonical)) == canonical
