"""The routing engine: applies a batch of inbound events in one database transaction.

For each message: find its conversation (its thread's; else the customer's open one its
channel's join rule allows, within the continuity window; else a new one, offered first to
the customer's last owner), store it once, and give every new or reopened conversation its
owner. The work is set-based: a handful of statements per batch, whatever its size. Kafka's
consumer and the inline transport both call `process`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.attachments.rows import insert_inbound_attachments
from router.channels import Channel
from router.conversations.history import Actor, Change, Journal
from router.customers.intake import customers_of
from router.db import driver_connection, in_transaction
from router.feedback.intake import key_of, record_answers, survey_answers
from router.inbound.envelope import (
    CallUpdate,
    DeliveryUpdate,
    InboundMessage,
    utcnow,
)
from router.inbound.ports import Event
from router.models import ConversationStatus
from router.outbound.failures import configured_secrets
from router.routing import rows
from router.routing.assignment import choose_queue, offer, withdraw_unclaimed
from router.routing.automated import record_bounces
from router.routing.board import Board, Slot, load_board
from router.routing.calls import apply_call_updates, latest_per_call, unseen_calls
from router.routing.continuity import LastOwner, OpenConversations, last_owners
from router.routing.deliveries import apply_delivery_updates
from router.routing.departures import requeue_from_gone_owners
from router.routing.explanation import (
    UNKNOWN_PLACEMENT,
    OfferPath,
    Placement,
    read_placements,
)
from router.routing.notices import quiet_conversation
from router.routing.policy import RoutingFacts
from router.routing.records import ConversationRecord
from router.service_levels.tracking import follow as follow_slas
from router.settings import Settings
from router.voice.endings import settle_ended_calls

log = logging.getLogger(__name__)


class RoutingEngine:
    """Applies inbound events; one call is one transaction."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = clock

    async def process(self, events: Sequence[Event]) -> None:
        """Apply the events in order, in one transaction; replays change nothing.

        A deadlock with another router process rolls the batch back and applies it again.
        """

        async def work(session: AsyncSession) -> None:
            await apply_events(session, events, self._settings, self._clock())

        await in_transaction(self._sessions, work)


async def apply_events(
    session: AsyncSession, events: Sequence[Event], settings: Settings, now: datetime
) -> None:
    """Apply a batch of inbound events within the caller's transaction."""
    messages = [event for event in events if isinstance(event, InboundMessage)]
    updates = [event for event in events if isinstance(event, DeliveryUpdate)]
    calls = latest_per_call([event for event in events if isinstance(event, CallUpdate)])
    # A call's updates need its message: stored before, in this batch, or made from them.
    fresh = await _unseen(session, messages + unseen_calls(messages, calls))
    if fresh:
        await record_bounces(await driver_connection(session), fresh)
        await _Intake(session, settings, now).apply(fresh)
    if updates or calls:
        journal = Journal(now, settings.topic_events if settings.transport_is_kafka() else None)
        if updates:
            # Providers' error texts are masked of secrets; rare, so looked up only then.
            errors = any(item.error for item in updates)
            secrets = configured_secrets(settings) if errors else ()
            await apply_delivery_updates(session, updates, journal, secrets)
        ended = await apply_call_updates(session, calls, journal) if calls else []
        await journal.flush(session)
        if ended:
            await settle_ended_calls(session, settings, ended, now)


async def _unseen(session: AsyncSession, messages: list[InboundMessage]) -> list[InboundMessage]:
    """Drop messages already stored (a redelivery) or repeated within the batch."""
    unique: dict[tuple[str, str], InboundMessage] = {}
    for message in messages:
        unique.setdefault((message.provider, message.provider_message_id), message)
    if not unique:
        return []
    stored = await rows.stored_messages(await driver_connection(session), unique)
    return [message for key, message in unique.items() if key not in stored]


class _Intake:
    def __init__(self, session: AsyncSession, settings: Settings, now: datetime) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.journal = Journal(
            now, settings.topic_events if settings.transport_is_kafka() else None
        )
        self.offer_timeout = timedelta(seconds=settings.offer_timeout_seconds)
        self._board: Board | None = None
        # Every conversation this batch offered or queued, with its previous owner.
        self._routed: dict[uuid.UUID, tuple[ConversationRecord, uuid.UUID | None]] = {}
        # New conversations whose previous owner owned another of the customer's: which.
        self._owned_in: dict[uuid.UUID, uuid.UUID] = {}
        # Why each of them is offered, should an offer have to be decided again.
        self._why: dict[uuid.UUID, tuple[OfferPath, Placement]] = {}

    async def board(self) -> Board:
        if self._board is None:
            self._board = await load_board(self.session, self.now)
        return self._board

    async def apply(self, messages: list[InboundMessage]) -> None:
        connection = await driver_connection(self.session)
        batch = await customers_of(connection, messages)
        customers = batch.of
        # Customers this batch made are locked by their insert, have no attributes and no
        # conversation yet: only the others are locked and looked up.
        earlier = set(customers.values()) - batch.made
        attributes = await rows.lock_customers(connection, sorted(earlier))
        attributes.update(dict.fromkeys(batch.made, rows.NO_ATTRIBUTES))
        # One record per conversation, however it was found; all are written back by the
        # batch's own statements.
        known: rows.Known = {}
        keys = {message.conversation_key for message in messages}
        by_thread = await rows.lock_by_thread(connection, keys, known)
        open_conversations = OpenConversations(await rows.lock_open(connection, earlier, known))
        owners = await self._last_owners(connection, messages, customers, by_thread, earlier)
        # Survey answers are kept on their conversation but never wake it.
        answers = await survey_answers(connection, messages, by_thread, self.now)

        new_conversations: list[ConversationRecord] = []
        touched: dict[uuid.UUID, ConversationRecord] = {}
        thread_rows: dict[str, uuid.UUID] = {}
        message_rows: list[list[Any]] = []
        continuity = self.now - timedelta(minutes=self.settings.continuity_window_minutes)
        join_rules = self.settings.join_open_conversation
        reopen_after = self.now - timedelta(hours=self.settings.reopen_window_hours)

        for message in messages:
            identity = (message.customer.kind.value, message.customer.value)
            customer_id = customers[identity]
            # A reaction, a provider's notice or a message no person wrote (an auto-reply, a
            # bounce) is recorded where it belongs, but never reopens, routes or re-offers a
            # conversation by itself.
            wakes = message.kind.wakes_agent and message.automated is None
            public = message.kind.is_public
            conversation = by_thread.get(message.conversation_key)
            if answers and key_of(message) in answers:
                if conversation is not None and conversation.status == ConversationStatus.RESOLVED:
                    wakes = False
                else:  # reopened by an earlier message of this batch: a message like any
                    del answers[key_of(message)]
            if (
                wakes
                and conversation is not None
                and conversation.status == ConversationStatus.RESOLVED
            ):
                if (
                    conversation.resolved_at is not None
                    and conversation.resolved_at >= reopen_after
                ):
                    await self._reopen(conversation, message, attributes[customer_id])
                else:
                    conversation = None
            if conversation is None and not public:
                # Public comments stay apart; a private message joins as its channel says.
                conversation = open_conversations.joinable(
                    customer_id, message.channel.value, join_rules[message.channel], continuity
                )
            if conversation is None:
                if wakes:
                    conversation = await self._open(
                        message, customer_id, attributes[customer_id], owners.get(customer_id)
                    )
                else:
                    conversation = quiet_conversation(self.journal, message, customer_id, self.now)
                new_conversations.append(conversation)
            elif wakes:
                touched[conversation.id] = conversation
            by_thread[message.conversation_key] = conversation
            if wakes and not public and conversation.status == ConversationStatus.OPEN:
                open_conversations.note(conversation)
            thread_rows[message.conversation_key] = conversation.id
            if wakes:
                conversation.last_message_at = max(
                    conversation.last_message_at or self.now, self.now
                )
                # The reply clock runs from the oldest message still unanswered.
                conversation.awaiting_reply_since = conversation.awaiting_reply_since or self.now
            message_rows.append(rows.message_row(message, conversation.id))

        await requeue_from_gone_owners(connection, touched.values(), self.board, self.journal)
        await self._reconsider(touched.values())
        if new_conversations:
            await rows.insert_conversations(connection, new_conversations)
        if touched:
            await rows.update_conversations(connection, list(touched.values()))
        await rows.upsert_threads(connection, thread_rows)
        await rows.insert_messages(connection, message_rows)
        await insert_inbound_attachments(
            connection,
            [(m.provider, m.provider_message_id) for m in messages if m.attachments],
            self.now,
        )
        await record_answers(connection, answers, self.now, self.journal.events_topic)
        await follow_slas(
            self.session,
            [c.id for c in new_conversations] + list(touched),
            self.settings,
            self.now,
        )
        # Everything but the offers goes in before the slots are claimed: from the claim to
        # the commit, the batch holds the slots' locks only while the offers' rows go in.
        await self.journal.flush(self.session, hold=Change.OFFERED)
        if self._board is not None:
            await self._claim_slots(connection, self._board)
        await self.journal.flush(self.session)
        log.info(
            "inbound batch applied",
            extra={"messages": len(messages), "new_conversations": len(new_conversations)},
        )
        if log.isEnabledFor(logging.DEBUG):
            for row in message_rows:
                log.debug(
                    "message routed",
                    extra={"event_id": row[1], "conversation_id": str(row[0])},
                )

    async def _last_owners(
        self,
        connection: Any,
        messages: list[InboundMessage],
        customers: Mapping[rows.Identity, uuid.UUID],
        by_thread: Mapping[str, ConversationRecord],
        earlier: Collection[uuid.UUID],
    ) -> dict[uuid.UUID, LastOwner]:
        """The last owners of the customers whose messages may open a conversation.

        Only a message whose thread has no open conversation may, and only a customer known
        before this batch (`earlier`) can have owned one: a batch of replies on known threads
        or of first contacts costs no query.
        """
        hours = self.settings.sticky_owner_hours
        if hours <= 0:
            return {}
        returning = set()
        for message in messages:
            known = by_thread.get(message.conversation_key)
            if known is None or known.status != ConversationStatus.OPEN:
                customer = customers[(message.customer.kind.value, message.customer.value)]
                if customer in earlier:
                    returning.add(customer)
        return await last_owners(connection, returning, self.now - timedelta(hours=hours))

    async def _open(
        self,
        message: InboundMessage,
        customer_id: uuid.UUID,
        attributes: Mapping[str, Any],
        last_owner: LastOwner | None,
    ) -> ConversationRecord:
        conversation = ConversationRecord(
            id=uuid.uuid4(),
            customer_id=customer_id,
            channel=message.channel.value,
            status=ConversationStatus.OPEN.value,
            subject=message.subject,
            waiting_since=self.now,
            last_message_at=self.now,
            created_at=self.now,
        )
        self.journal.record(
            conversation.id,
            Change.CREATED,
            f"first message on {message.channel} via {message.provider}",
            actor=Actor.CUSTOMER,
            details={
                "thread": message.conversation_key,
                "channel": message.channel,
                "event_id": message.event_id,
            },
        )
        previous = None
        if last_owner is not None:
            # Sticky across threads and channels: the agent who knows this customer.
            previous = last_owner.agent_id
            self._owned_in[conversation.id] = last_owner.conversation_id
        await self._route(
            conversation, message, attributes, previous_owner=previous, path=OfferPath.ARRIVAL
        )
        return conversation

    async def _reopen(
        self,
        conversation: ConversationRecord,
        message: InboundMessage,
        attributes: Mapping[str, Any],
    ) -> None:
        conversation.status = ConversationStatus.OPEN.value
        conversation.resolved_at = None
        conversation.waiting_since = self.now
        conversation.excluded_agents = {}
        previous = conversation.agent_id or conversation.last_agent_id
        conversation.agent_id = None
        conversation.offer_state = None
        self.journal.record(
            conversation.id,
            Change.REOPENED,
            f"customer wrote again on {message.channel}",
            actor=Actor.CUSTOMER,
            details={
                "previous_owner": str(previous) if previous else None,
                "event_id": message.event_id,
            },
        )
        await self._route(
            conversation, message, attributes, previous_owner=previous, path=OfferPath.REOPEN
        )

    async def _reconsider(self, touched: Iterable[ConversationRecord]) -> None:
        """Offer again the waiting conversations whose customer wrote: someone may be free.

        The sweeps would find them too, but not before their next round. Exclusions still in
        force stay: a customer's message does not change an agent's answer.
        """
        waiting = [
            conversation
            for conversation in touched
            if conversation.status == ConversationStatus.OPEN
            and conversation.agent_id is None
            and conversation.queue_id is not None
            and conversation.id not in self._routed
        ]
        if not waiting:
            return
        board = await self.board()
        placements = await read_placements(
            await driver_connection(self.session), [c.id for c in waiting]
        )
        for conversation in waiting:
            previous = conversation.last_agent_id
            self._routed[conversation.id] = (conversation, previous)
            why = (OfferPath.CUSTOMER_WROTE, placements.get(conversation.id, UNKNOWN_PLACEMENT))
            self._why[conversation.id] = why
            offer(
                board,
                conversation,
                self.journal,
                offer_timeout=self.offer_timeout,
                path=why[0],
                placement=why[1],
                previous_owner=previous,
                record_wait=False,
            )

    async def _claim_slots(self, connection: Any, board: Board) -> None:
        """Claim the slots the offers took; offers whose slot is gone are decided again.

        The decisions were made on an unlocked board. A slot another router process took
        meanwhile (or whose agent left) is refused: those offers are taken back, decided
        again on a fresh unlocked board and claimed once more. Only offers refused a second
        time are decided on a locked board, where the counts are the truth until commit.
        """
        refused = await board.save(self.session)
        if not refused:
            return
        retry = self._take_back(list(self._routed.values()), refused)
        log.info("offers decided again on a fresh board", extra={"offers": len(retry)})
        fresh = await load_board(self.session, self.now)
        self._offer_again(fresh, retry)
        refused = await fresh.save(self.session)
        if refused:
            again = self._take_back(retry, refused)
            log.info("offers decided again on a locked board", extra={"offers": len(again)})
            locked = await load_board(self.session, self.now, lock=True)
            self._offer_again(locked, again)
            await locked.save(self.session)
        await rows.update_conversations(connection, [conversation for conversation, _ in retry])

    def _take_back(
        self, routed: list[tuple[ConversationRecord, uuid.UUID | None]], refused: set[Slot]
    ) -> list[tuple[ConversationRecord, uuid.UUID | None]]:
        """Undo the offers holding refused slots; a refused offer leaves no trace in history."""
        taken = [
            (conversation, previous)
            for conversation, previous in routed
            if conversation.agent_id is not None
            and (str(conversation.agent_id), Channel(conversation.channel)) in refused
        ]
        for conversation, _ in taken:
            withdraw_unclaimed(conversation, self.journal)
        return taken

    def _offer_again(
        self, board: Board, routed: list[tuple[ConversationRecord, uuid.UUID | None]]
    ) -> None:
        for conversation, previous in routed:
            path, placement = self._why[conversation.id]
            offer(
                board,
                conversation,
                self.journal,
                offer_timeout=self.offer_timeout,
                path=path,
                placement=placement,
                previous_owner=previous,
                previous_owner_of=self._owned_in.get(conversation.id),
            )

    async def _route(
        self,
        conversation: ConversationRecord,
        message: InboundMessage,
        attributes: Mapping[str, Any],
        *,
        previous_owner: uuid.UUID | None,
        path: OfferPath,
    ) -> None:
        board = await self.board()
        facts = RoutingFacts(
            channel=message.channel,
            recipient=message.recipient,
            customer_attributes={
                key: value
                for key, value in attributes.items()
                if isinstance(value, str | bool | int)
            },
            text=message.stripped_text or message.text,
        )
        self._routed[conversation.id] = (conversation, previous_owner)
        placement = choose_queue(board, conversation, facts, self.journal)
        self._why[conversation.id] = (path, placement)
        offer(
            board,
            conversation,
            self.journal,
            offer_timeout=self.offer_timeout,
            path=path,
            placement=placement,
            previous_owner=previous_owner,
            previous_owner_of=self._owned_in.get(conversation.id),
        )
