"""A simulated team of agents working through the console API, as their consoles would.

The agents and the queue membership are made through the admin API, each agent's API key
with `router create-key`. Each agent long-polls `/v1/conversations`, accepts most offers,
declines some, lets a few lapse, resolves what it accepted after a handling time, and now
and then goes away or offline for a while. While the run settles, the team only accepts
and resolves, everyone online.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos.stack import Stack

# Small enough that agents fill up and capacity is tested; together (12 agents) enough
# slots for the backlog a slow host leaves, so a free slot at the end means something.
CAPACITY = {
    "email": 4,
    "chat": 3,
    "whatsapp": 3,
    "messenger": 2,
    "instagram": 2,
    "sms": 3,
}
# Only every sixth agent takes calls (voicemails, three at a time): a voice offer that is
# declined or lapses soon runs out of agents to go to, as on a real team.
VOICE_EVERY, VOICE_CAPACITY = 6, 3


@dataclass
class Seat:
    """One agent of the team and what they are working on."""

    handle: str
    id: str
    token: str
    presence: str = "offline"
    next_presence_change: float = 0.0
    seen: set[str] = field(default_factory=set)
    working: dict[str, float] = field(default_factory=dict)  # conversation -> resolve at


async def hire(stack: Stack, count: int) -> list[Seat]:
    """Create `count` agents in the default queue, through the admin API; each gets a key."""
    admin = (await stack.router_command("create-key", "--role", "admin", "--name", "chaos")).strip()
    headers = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=stack.api, headers=headers, timeout=30) as client:
        queues = (await client.get("/v1/queues")).raise_for_status().json()
        default = next(q for q in queues if q["name"] == "default")
        seats = []
        for n in range(count):
            handle = f"chaos{n:02d}"
            created = await client.post(
                "/v1/agents",
                json={
                    "handle": handle,
                    "display_name": f"Chaos agent {n:02d}",
                    "languages": ["en"],
                    "capacity": {
                        **CAPACITY,
                        "voice": VOICE_CAPACITY if n % VOICE_EVERY == 0 else 0,
                    },
                    "queue_ids": [default["id"]],
                },
            )
            created.raise_for_status()
            seats.append(Seat(handle, created.json()["id"], ""))
    tokens = await asyncio.gather(
        *(
            stack.router_command(
                "create-key", "--role", "agent", "--agent", s.handle, "--name", s.handle
            )
            for s in seats
        )
    )
    for seat, token in zip(seats, tokens, strict=True):
        seat.token = token.strip()
    return seats


class Team:
    """The agents at work until told to stop; `settling` makes them only accept and resolve."""

    def __init__(self, api: str, seats: list[Seat], seed: int) -> None:
        self.api = api
        self.seats = seats
        self.rng = random.Random(seed + 2)
        self.settling = False
        self.stop = asyncio.Event()
        self.counts: Counter[str] = Counter()

    async def run(self) -> None:
        """Every agent works concurrently until `stop` is set."""
        async with httpx.AsyncClient(base_url=self.api, timeout=40) as client:
            await asyncio.gather(*(self._work(client, seat) for seat in self.seats))

    async def _call(
        self, client: httpx.AsyncClient, seat: Seat, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        headers = {"Authorization": f"Bearer {seat.token}", **kwargs.pop("headers", {})}
        try:
            response = await client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError:
            self.counts["no answer"] += 1
            await asyncio.sleep(1.0)
            return None
        if response.status_code >= 500 or response.status_code == 429:
            self.counts[str(response.status_code)] += 1
            await asyncio.sleep(1.0)
        return response

    async def _presence(self, client: httpx.AsyncClient, seat: Seat, presence: str) -> None:
        answer = await self._call(
            client, seat, "PUT", "/v1/me/presence", json={"presence": presence}
        )
        if answer is not None and answer.status_code == 200:
            seat.presence = presence
            self.counts[f"went {presence}"] += 1

    async def _act(self, client: httpx.AsyncClient, seat: Seat, cid: str, action: str) -> bool:
        answer = await self._call(client, seat, "POST", f"/v1/conversations/{cid}/{action}")
        ok = answer is not None and answer.status_code == 200
        if ok:
            self.counts[action] += 1
        elif answer is not None and answer.status_code < 500:
            # 409: the offer lapsed, or the conversation moved on, before the click arrived.
            self.counts[f"{action} {answer.status_code}"] += 1
        return ok

    def _next_presence_change(self, seat: Seat, now: float) -> None:
        if seat.presence == "online":
            seat.next_presence_change = now + self.rng.uniform(15, 45)
        else:
            seat.next_presence_change = now + self.rng.uniform(3, 12)

    async def _work(self, client: httpx.AsyncClient, seat: Seat) -> None:
        await self._presence(client, seat, "online")
        self._next_presence_change(seat, time.monotonic())
        etag = ""
        while not self.stop.is_set():
            started = time.monotonic()
            if self.settling and seat.presence != "online":
                await self._presence(client, seat, "online")
            elif not self.settling and started >= seat.next_presence_change:
                target = (
                    self.rng.choice(("away", "offline")) if seat.presence == "online" else "online"
                )
                await self._presence(client, seat, target)
                self._next_presence_change(seat, started)
            headers = {"If-None-Match": etag} if etag else {}
            answer = await self._call(
                client,
                seat,
                "GET",
                "/v1/conversations",
                params={"limit": 100, "wait": 1},
                headers=headers,
            )
            if answer is not None and answer.status_code == 200:
                etag = answer.headers.get("ETag", "")
                await self._answer_offers(client, seat, answer.json()["items"])
            now = time.monotonic()
            due = [cid for cid, at in seat.working.items() if at <= now]
            for cid in due:
                del seat.working[cid]
            # A console's agent works several conversations at once.
            await asyncio.gather(*(self._act(client, seat, cid, "resolve") for cid in due))
            # At most two polls a second per key (the API's limit).
            await asyncio.sleep(max(0.0, 0.6 - (time.monotonic() - started)))

    async def _answer_offers(
        self, client: httpx.AsyncClient, seat: Seat, items: list[dict[str, Any]]
    ) -> None:
        offers = []
        for item in items:
            cid = item["id"]
            key = f"{cid}@{item.get('offered_at')}"
            if item["agent_id"] != seat.id:
                continue
            if item["offer_state"] == "accepted" and cid not in seat.working:
                # Accepted, but its answer (or the resolve's) was lost: finish it later.
                seat.working[cid] = time.monotonic() + self.rng.uniform(1.0, 4.0)
            if item["offer_state"] != "offered" or key in seat.seen:
                continue
            seat.seen.add(key)
            offers.append(self._answer_offer(client, seat, item["id"]))
        await asyncio.gather(*offers)

    async def _answer_offer(self, client: httpx.AsyncClient, seat: Seat, cid: str) -> None:
        choice = self.rng.random()
        if not self.settling and choice < 0.12:
            await self._act(client, seat, cid, "decline")
        elif not self.settling and choice < 0.18:
            self.counts["let lapse"] += 1
        elif await self._act(client, seat, cid, "accept"):
            handling = (0.2, 1.0) if self.settling else (1.0, 5.0)
            seat.working[cid] = time.monotonic() + self.rng.uniform(*handling)
