"""Database models: the router's state in PostgreSQL."""

from router.models.attachments import StoredAttachment
from router.models.audit import AdminAudit
from router.models.auth import ApiKey
from router.models.base import Base
from router.models.chat_sites import ChatSite
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
from router.models.customers import (
    Customer,
    CustomerEvent,
    CustomerIdentity,
    CustomerMerge,
    CustomerNumber,
)
from router.models.feedback import Feedback, FeedbackSettingsVersion, FeedbackSurvey
from router.models.presence import PresenceChange
from router.models.reports import (
    ConversationMetrics,
    ConversationResolution,
    ConversationResponse,
    MeasureObservation,
    ReportChange,
    ReportDay,
    ReportView,
)
from router.models.service_levels import ConversationSla, SlaPolicyVersion
from router.models.webhooks import SignedToken

__all__ = [
    "AdminAudit",
    "Agent",
    "AgentCapacity",
    "ApiKey",
    "Base",
    "ChatSite",
    "Conversation",
    "ConversationEvent",
    "ConversationMetrics",
    "ConversationResolution",
    "ConversationResponse",
    "ConversationSla",
    "ConversationStatus",
    "ConversationThread",
    "Customer",
    "CustomerEvent",
    "CustomerIdentity",
    "CustomerMerge",
    "CustomerNumber",
    "Feedback",
    "FeedbackSettingsVersion",
    "FeedbackSurvey",
    "MeasureObservation",
    "Message",
    "OfferState",
    "OutboxEvent",
    "PresenceChange",
    "Queue",
    "QueueAgent",
    "ReportChange",
    "ReportDay",
    "ReportView",
    "RoutingPolicy",
    "SignedToken",
    "SlaPolicyVersion",
    "StoredAttachment",
]
