"""Survey decisions: which resolutions get one, of which kind, and what counts as an answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.channels import Channel
from router.feedback import links
from router.feedback.policy import (
    DEFAULT_QUESTIONS,
    SurveyKind,
    SurveyOverride,
    SurveySettings,
    plan_for,
    read_answer,
)

QUEUE = uuid.UUID("6f1c9a52-8f0e-4d1b-9a52-3c7e0b1d2f40")


@pytest.mark.parametrize(
    ("text", "score", "comment"),
    [
        ("5", 5, None),
        ("5 thanks!", 5, "thanks!"),
        ("4 - slow but good", 4, "slow but good"),
        ("  2, meh", 2, "meh"),
        ("3.", 3, None),
        ("1\nnobody read my message", 1, "nobody read my message"),
    ],
)
def test_a_number_in_range_first_is_an_answer_and_the_rest_its_comment(
    text: str, score: int, comment: str | None
) -> None:
    answer = read_answer(text, SurveyKind.CSAT)
    assert answer is not None
    assert (answer.score, answer.comment) == (score, comment)


@pytest.mark.parametrize(
    "text", ["6", "0", "12", "five", "3.5 stars", "5pm tomorrow?", "2020 order", "", "thanks 5"]
)
def test_anything_else_is_not_a_csat_answer(text: str) -> None:
    assert read_answer(text, SurveyKind.CSAT) is None


def test_each_kind_has_its_own_scale() -> None:
    assert read_answer("7", SurveyKind.CES) is not None
    assert read_answer("8", SurveyKind.CES) is None
    assert read_answer("0", SurveyKind.NPS) is not None
    assert read_answer("10/10 great", SurveyKind.NPS) == read_answer("10 great", SurveyKind.NPS)
    assert read_answer("11", SurveyKind.NPS) is None


@given(st.text(max_size=40), st.sampled_from(list(SurveyKind)))
def test_an_answer_is_always_in_its_kinds_range(text: str, kind: SurveyKind) -> None:
    answer = read_answer(text, kind)
    assert answer is None or answer.score in kind.scale


def test_no_survey_until_switched_on() -> None:
    assert plan_for(SurveySettings(), Channel.SMS, QUEUE) is None


def test_off_for_a_queue_or_a_channel_and_never_on_voice() -> None:
    settings = SurveySettings(
        enabled=True,
        channels={Channel.WHATSAPP: SurveyOverride(enabled=False)},
        queues={QUEUE: SurveyOverride(enabled=False)},
    )
    assert plan_for(settings, Channel.SMS, None) is not None
    assert plan_for(settings, Channel.SMS, QUEUE) is None
    assert plan_for(settings, Channel.WHATSAPP, None) is None
    assert plan_for(settings, Channel.VOICE, None) is None


def test_a_queue_may_switch_on_what_is_off_by_default_unless_its_channel_is_off() -> None:
    settings = SurveySettings(
        queues={QUEUE: SurveyOverride(enabled=True, kind=SurveyKind.NPS, delay_seconds=60)},
        channels={Channel.EMAIL: SurveyOverride(enabled=False)},
    )
    plan = plan_for(settings, Channel.MESSENGER, QUEUE)
    assert plan is not None
    assert (plan.kind, plan.question, plan.delay_seconds, plan.by_link) == (
        SurveyKind.NPS,
        DEFAULT_QUESTIONS[SurveyKind.NPS],
        60,
        False,
    )
    assert plan_for(settings, Channel.EMAIL, QUEUE) is None
    assert plan_for(settings, Channel.MESSENGER, None) is None


def test_email_and_chat_are_answered_by_link_with_the_configured_words() -> None:
    settings = SurveySettings(enabled=True, question="Did we help?", thanks="Merci!")
    plan = plan_for(settings, Channel.EMAIL, None)
    assert plan is not None
    assert (plan.by_link, plan.question, plan.thanks, plan.kind) == (
        True,
        "Did we help?",
        "Merci!",
        SurveyKind.CSAT,
    )


def test_a_link_names_its_survey_until_it_expires_and_cannot_be_forged() -> None:
    secret, survey = b"s3cret", uuid.uuid4()
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    token = links.sign(secret, survey, now + timedelta(hours=1))
    assert links.verify(secret, token, now).survey_id == survey
    with pytest.raises(links.ExpiredToken):
        links.verify(secret, token, now + timedelta(hours=2))
    with pytest.raises(links.ForgedToken):
        links.verify(b"other", token, now)
    tampered = ("A" if token[0] != "A" else "B") + token[1:]
    for forged in (tampered, token[:-2], "", "not a token", "ü" * 10):
        with pytest.raises(links.ForgedToken):
            links.verify(secret, forged, now)
