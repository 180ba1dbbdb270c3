"""`/v1/chat-sites`: admins say where each web-chat site's replies go."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from router.auth.dependencies import Admin
from router.chat_sites import service
from router.chat_sites.schemas import SITE_PATTERN, ChatSiteOut, ChatSiteRequest
from router.console.runtime import router_state
from router.db import in_transaction
from router.inbound.envelope import utcnow
from router.openapi import problems
from router.state import RouterState

router = APIRouter(prefix="/v1", tags=["administration"])

State = Annotated[RouterState, Depends(router_state)]
Site = Annotated[str, Path(pattern=SITE_PATTERN, description="The `site` of the web-chat webhook")]


@router.get(
    "/chat-sites",
    operation_id="chat_sites_list",
    summary="Web-chat sites and the URLs their replies go to",
    response_model=list[ChatSiteOut],
    responses=problems(401, 403),
)
async def list_chat_sites(principal: Admin, state: State) -> list[ChatSiteOut]:
    async with state.sessions() as session:
        return [ChatSiteOut.model_validate(site) for site in await service.list_sites(session)]


@router.get(
    "/chat-sites/{site}",
    operation_id="chat_sites_get",
    summary="A web-chat site's reply URL",
    response_model=ChatSiteOut,
    responses=problems(401, 403, 404, 422),
)
async def get_chat_site(site: Site, principal: Admin, state: State) -> ChatSiteOut:
    async with state.sessions() as session:
        return ChatSiteOut.model_validate(await service.get_site(session, site))


@router.put(
    "/chat-sites/{site}",
    operation_id="chat_sites_put",
    summary="Set where a web-chat site's widget backend takes replies",
    response_model=ChatSiteOut,
    responses=problems(401, 403, 422),
)
async def put_chat_site(
    site: Site, body: ChatSiteRequest, principal: Admin, state: State
) -> ChatSiteOut:
    row = await in_transaction(
        state.sessions, lambda s: service.put_site(s, site, body.reply_url, utcnow())
    )
    return ChatSiteOut.model_validate(row)


@router.delete(
    "/chat-sites/{site}",
    operation_id="chat_sites_delete",
    summary="Forget a web-chat site's reply URL (replies to it are refused from then on)",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(401, 403, 404, 422),
)
async def delete_chat_site(site: Site, principal: Admin, state: State) -> Response:
    await in_transaction(state.sessions, lambda s: service.delete_site(s, site))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
