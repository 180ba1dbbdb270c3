"""`GET /problems/<type>`: the page a problem document's `type` points at.

Plain HTML with its style inline: readable in a browser, and by a person following the link
from a log line, without anything fetched from elsewhere.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from router.errors import NotFound
from router.openapi import problems
from router.problems.catalogue import PROBLEM_TYPES, ProblemType

router = APIRouter(prefix="/problems", tags=["problems"])

_STYLE = "body{font-family:sans-serif;max-width:40em;margin:2em auto;line-height:1.5}"


def _page(title: str, content: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{content}</body></html>"
    )


def problem_page(name: str, problem: ProblemType) -> str:
    """The page of one problem type: title, status, what it means, what to do."""
    return _page(
        problem.title,
        f"<h1>{escape(problem.title)}</h1>"
        f"<p>Problem type <code>{escape(name)}</code>, HTTP status {problem.status}.</p>"
        f"<h2>What it means</h2><p>{escape(problem.meaning)}</p>"
        f"<h2>What to do</h2><p>{escape(problem.remedy)}</p>"
        '<p><a href="./">Every problem type</a></p>',
    )


@router.get(
    "/",
    operation_id="problem_types",
    summary="Every problem type the API answers with",
    response_class=HTMLResponse,
)
async def problem_types() -> HTMLResponse:
    items = "".join(
        f'<li><a href="{escape(name)}">{escape(name)}</a> ({problem.status}): '
        f"{escape(problem.title)}</li>"
        for name, problem in sorted(PROBLEM_TYPES.items())
    )
    return HTMLResponse(_page("Problem types", f"<h1>Problem types</h1><ul>{items}</ul>"))


@router.get(
    "/{problem_type}",
    operation_id="problem_type",
    summary="What a problem type means and what to do about it",
    response_class=HTMLResponse,
    responses=problems(404),
)
async def problem_type(problem_type: str) -> HTMLResponse:
    problem = PROBLEM_TYPES.get(problem_type)
    if problem is None:
        raise NotFound(f"there is no problem type {problem_type!r}")
    return HTMLResponse(problem_page(problem_type, problem))
