"""Database models: the router's state in PostgreSQL."""

from router.models.attachments import StoredAttachment
from router.models.auth import ApiKey
from router.models.base import Base
from router.models.contact_points import Agent, AgentCapacity, Queue, QueueAgent, RoutingPolicy
from router.models.conversations import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    ConversationThread,
    Message,
    OfferState,
    OutboxEvent,
)
from router.models.customers import Customer, CustomerIdentity
from router.models.presence import PresenceChange
from router.models.webhooks import SignedToken

__all__ = [
    "Agent",
    "AgentCapacity",
    "ApiKey",
    "Base",
    "Conversation",
    "ConversationEvent",
    "ConversationStatus",
    "ConversationThread",
    "Customer",
    "CustomerIdentity",
    "Message",
    "OfferState",
    "OutboxEvent",
    "PresenceChange",
    "Queue",
    "QueueAgent",
    "RoutingPolicy",
    "SignedToken",
    "StoredAttachment",
]
