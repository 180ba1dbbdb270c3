"""`GET`/`POST /feedback/{token}`: the survey's answer page, plain HTML with no script.

Everything the page needs is in it (a few lines of CSS), so nothing is fetched from
elsewhere. A forged link, a closed survey and one already answered each get a page saying so.
"""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from router.console.runtime import router_state
from router.db import in_transaction
from router.feedback import links
from router.feedback.answers import LinkState, answer_on_page, linked_survey
from router.feedback.policy import Answer, SurveyKind, scale_labels
from router.inbound.envelope import utcnow
from router.models import FeedbackSurvey
from router.settings import Settings
from router.state import RouterState

router = APIRouter(include_in_schema=False)

State = Annotated[RouterState, Depends(router_state)]

COMMENT_MAX = 2000
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}fieldset{border:0;padding:0;margin:1rem 0;display:flex;flex-wrap:wrap;gap:.4rem}
label.score{border:1px solid #888;border-radius:.3rem;padding:.4rem .7rem;cursor:pointer}
.ends{display:flex;justify-content:space-between;font-size:.85rem;color:#555}
textarea{width:100%;min-height:6rem}button{margin-top:1rem;padding:.5rem 1.2rem}
.error{color:#a00}
"""

_PAGES = {
    LinkState.UNKNOWN: (404, "This link is not valid", "Please use the link from our message."),
    LinkState.CLOSED: (410, "This survey has closed", "The time to answer it is over."),
    LinkState.ANSWERED: (409, "You have already answered", "Thank you, we have your answer."),
}


def _document(title: str, body: str, status: int) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _notice(state: LinkState) -> HTMLResponse:
    status, title, text = _PAGES[state]
    return _document(title, f"<p>{escape(text)}</p>", status)


def _form(survey: FeedbackSurvey, token: str, error: str | None = None) -> HTMLResponse:
    kind = SurveyKind(survey.kind)
    low, high = scale_labels(kind)
    choices = "".join(
        f'<label class="score"><input type="radio" name="score" value="{score}" required> '
        f"{score}</label>"
        for score in kind.scale
    )
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        f'{problem}<form method="post" action="/feedback/{escape(token)}">'
        f"<fieldset><legend>{escape(survey.question)}</legend>{choices}</fieldset>"
        f'<div class="ends"><span>{kind.scale.start}: {escape(low)}</span>'
        f"<span>{kind.scale.stop - 1}: {escape(high)}</span></div>"
        '<p><label for="comment">Anything you would like to add? (optional)</label></p>'
        f'<textarea id="comment" name="comment" maxlength="{COMMENT_MAX}"></textarea>'
        '<button type="submit">Send</button></form>'
    )
    return _document("How did we do?", body, 422 if error else 200)


def _verified(settings: Settings, token: str) -> links.SurveyLink | LinkState:
    if settings.feedback_link_secret is None:
        return LinkState.UNKNOWN
    try:
        return links.verify(
            settings.feedback_link_secret.get_secret_value().encode(), token, utcnow()
        )
    except links.ExpiredToken:
        return LinkState.CLOSED
    except links.ForgedToken:
        return LinkState.UNKNOWN


@router.get("/feedback/{token}", response_class=HTMLResponse)
async def survey_page(token: str, state: State) -> HTMLResponse:
    """The survey's form, or a page saying why it cannot be answered."""
    link = _verified(state.settings, token)
    if isinstance(link, LinkState):
        return _notice(link)
    async with state.sessions() as session:
        found = await linked_survey(session, link.survey_id, utcnow())
    if found.state is not LinkState.OPEN or found.survey is None:
        return _notice(found.state)
    return _form(found.survey, token)


def _read_form(raw: bytes, kind: SurveyKind) -> Answer | str:
    fields = parse_qs(raw.decode("utf-8", errors="replace"), max_num_fields=10)
    score_text = (fields.get("score") or [""])[0].strip()
    if not score_text.isdecimal() or int(score_text) not in kind.scale:
        scale = kind.scale
        return f"Choose a score from {scale.start} to {scale.stop - 1}."
    comment = (fields.get("comment") or [""])[0].replace("\x00", "").strip()[:COMMENT_MAX]
    return Answer(score=int(score_text), comment=comment or None)


@router.post("/feedback/{token}", response_class=HTMLResponse)
async def answer_survey(token: str, request: Request, state: State) -> HTMLResponse:
    """Store the answer once; the survey's thank-you page."""
    link = _verified(state.settings, token)
    if isinstance(link, LinkState):
        return _notice(link)
    try:
        raw = await request.body()
    except ValueError:
        raw = b""
    settings = state.settings
    topic = settings.topic_events if settings.transport_is_kafka() else None

    async def work(session: AsyncSession) -> HTMLResponse:
        now = utcnow()
        found = await linked_survey(session, link.survey_id, now, lock=True)
        if found.state is not LinkState.OPEN or found.survey is None:
            return _notice(found.state)
        answer = _read_form(raw, SurveyKind(found.survey.kind))
        if isinstance(answer, str):
            return _form(found.survey, token, answer)
        if not await answer_on_page(session, found.survey, answer, now, topic):
            return _notice(LinkState.ANSWERED)
        return _document(found.survey.thanks, "<p>You can close this page.</p>", 200)

    return await in_transaction(state.sessions, work)
