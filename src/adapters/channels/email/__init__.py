"""Inbound email: SendGrid Inbound Parse, Mailgun routes and Postmark inbound webhooks.

Each provider's module speaks its format (`delivery` the event webhooks about the mail we
send); `parsing` holds what all of them share
(threading, quoted-reply stripping, addresses, the envelope) and `mime` the form and MIME
decoding two of them need.
"""

from __future__ import annotations

from fastapi import APIRouter

from adapters.channels.email.delivery import router as delivery_router
from adapters.channels.email.mailgun import router as mailgun_router
from adapters.channels.email.postmark import router as postmark_router
from adapters.channels.email.sendgrid import router as sendgrid_router


def email_routers() -> list[APIRouter]:
    """The webhook routers of every email provider: inbound mail, and news of mail we sent."""
    return [sendgrid_router, mailgun_router, postmark_router, delivery_router]
