"""The chat sites admins configure, and the reply URL a web-chat reply is posted to.

Every function runs inside the caller's transaction and never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from router.errors import NotFound, ProblemError
from router.models import ChatSite


class ChatSiteWithoutReplyUrl(ProblemError):
    status = 409
    problem = "chat-site-without-reply-url"
    title = "The chat site has no reply URL"


async def list_sites(session: AsyncSession) -> list[ChatSite]:
    """Every configured site, by name."""
    return list((await session.scalars(select(ChatSite).order_by(ChatSite.site))).all())


async def get_site(session: AsyncSession, site: str) -> ChatSite:
    """One site's configuration; 404 when it has none."""
    found = await session.get(ChatSite, site)
    if found is None:
        raise NotFound(f"chat site {site!r} has no reply URL configured")
    return found


async def put_site(session: AsyncSession, site: str, reply_url: str, now: datetime) -> ChatSite:
    """Set (or replace) the site's reply URL; queued replies use the new one."""
    statement = insert(ChatSite).values(
        site=site, reply_url=reply_url, created_at=now, updated_at=now
    )
    row = (
        await session.scalars(
            statement.on_conflict_do_update(
                index_elements=[ChatSite.site],
                set_={"reply_url": statement.excluded.reply_url, "updated_at": now},
            )
            .returning(ChatSite)
            .execution_options(populate_existing=True)
        )
    ).one()
    return row


async def delete_site(session: AsyncSession, site: str) -> None:
    """Forget the site's reply URL; replies to its visitors are refused from then on."""
    deleted = await session.execute(
        delete(ChatSite).where(ChatSite.site == site).returning(ChatSite.site)
    )
    if deleted.first() is None:
        raise NotFound(f"chat site {site!r} has no reply URL configured")


async def reply_url_for(session: AsyncSession, site: str) -> str:
    """The URL replies to this site's visitors go to; 409 when none is configured.

    Checked when the agent replies, so a reply that cannot be sent is refused at once
    rather than queued to fail later.
    """
    url = await session.scalar(select(ChatSite.reply_url).where(ChatSite.site == site))
    if url is None:
        raise ChatSiteWithoutReplyUrl(
            f"chat site {site!r} has no reply URL; an admin sets it with PUT /v1/chat-sites/{site}",
            site=site,
        )
    return url
