"""Web chat, Meta (WhatsApp, Messenger, Instagram) and Twilio (SMS, voice) webhooks.

A follow-up is the same visitor's session, the same WhatsApp number or page-scoped user, the
same phone number, or, for a call, the voicemail recording callback of that call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

from bench.provider_requests import PUBLIC_BASE_URL, Builder, Customers, Thread, Webhook, compact

_LINE = "+14155550100"
_WA_LINE = "106540352242922"
_WA_ACCOUNT = "102290129340398"
_PAGE = "682498302938465"
_IG_ACCOUNT = "17841400000000001"
_TWILIO_ACCOUNT = "ACa1b2c3d4e5f60718293a4b5c6d7e8f90"


def webchat(traffic: Customers, follow: Thread | None) -> Webhook:
    """Our widget's event, signed `v1=` HMAC-SHA256 over `timestamp.body`."""
    opens = follow is None
    thread = follow or traffic.new_thread("webchat", f"v_{traffic.uid()}", f"s_{traffic.uid()}")
    event_id = f"evt_{traffic.uid()}"
    document = {
        "event_id": event_id,
        "visitor": {"id": thread.customer, "name": thread.name},
        "session_id": thread.root,
        "site": "shop-main",
        "text": traffic.text(),
        "sent_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    body = compact(document)
    stamp = str(int(time.time()))
    digest = hmac.new(
        traffic.secrets.webchat.encode(), stamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    headers = (
        ("Content-Type", "application/json"),
        ("X-Router-Timestamp", stamp),
        ("X-Router-Signature", f"v1={digest}"),
    )
    return Webhook("webchat", "/webhooks/chat", headers, body, ("webchat", event_id), opens)


def _meta(
    traffic: Customers, source: str, document: object, message: tuple[str, str] | None, opens: bool
) -> Webhook:
    body = compact(document)
    digest = hmac.new(traffic.secrets.meta.encode(), body, hashlib.sha256).hexdigest()
    headers = (
        ("Content-Type", "application/json"),
        ("X-Hub-Signature-256", f"sha256={digest}"),
    )
    return Webhook(source, "/webhooks/meta", headers, body, message, opens)


def _whatsapp_notification(value: Mapping[str, object]) -> dict[str, object]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": _WA_ACCOUNT, "changes": [{"value": value, "field": "messages"}]}],
    }


def whatsapp(traffic: Customers, follow: Thread | None) -> Webhook:
    """A WhatsApp Cloud API text message notification."""
    opens = follow is None
    thread = follow or traffic.new_thread("whatsapp", traffic.phone().lstrip("+"))
    wamid = f"wamid.{traffic.uid()}"
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": _WA_LINE},
        "contacts": [{"profile": {"name": thread.name}, "wa_id": thread.customer}],
        "messages": [
            {
                "from": thread.customer,
                "id": wamid,
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": traffic.text()},
            }
        ],
    }
    return _meta(traffic, "whatsapp", _whatsapp_notification(value), ("meta", wamid), opens)


def whatsapp_status(traffic: Customers, follow: Thread | None) -> Webhook:
    """A delivery status of a message we sent (no message of its own)."""
    status = {
        "id": f"wamid.out.{traffic.uid()}",
        "status": traffic.rng.choice(("delivered", "read", "sent")),
        "timestamp": str(int(time.time())),
        "recipient_id": follow.customer if follow else traffic.phone().lstrip("+"),
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": _WA_LINE},
        "statuses": [status],
    }
    return _meta(traffic, "whatsapp_status", _whatsapp_notification(value), None, False)


def _social(
    traffic: Customers, source: str, kind: str, business: str, follow: Thread | None
) -> Webhook:
    opens = follow is None
    thread = follow or traffic.new_thread(source, f"{traffic.rng.getrandbits(52):016d}")
    mid = f"m_{traffic.uid()}"
    now_ms = int(time.time() * 1000)
    event = {
        "sender": {"id": thread.customer},
        "recipient": {"id": business},
        "timestamp": now_ms,
        "message": {"mid": mid, "text": traffic.text()},
    }
    document = {
        "object": kind,
        "entry": [{"id": business, "time": now_ms, "messaging": [event]}],
    }
    return _meta(traffic, source, document, ("meta", mid), opens)


def messenger(traffic: Customers, follow: Thread | None) -> Webhook:
    """A Messenger message to our page."""
    return _social(traffic, "messenger", "page", _PAGE, follow)


def instagram(traffic: Customers, follow: Thread | None) -> Webhook:
    """An Instagram direct message to our account."""
    return _social(traffic, "instagram", "instagram", _IG_ACCOUNT, follow)


def _twilio(
    traffic: Customers,
    source: str,
    path: str,
    params: dict[str, str],
    message: tuple[str, str] | None,
    opens: bool,
    query: str = "",
) -> Webhook:
    """A form post signed as Twilio signs: HMAC-SHA1 over the URL and the sorted parameters."""
    url = f"{PUBLIC_BASE_URL}{path}" + (f"?{query}" if query else "")
    signed = url + "".join(key + value for key, value in sorted(params.items()))
    digest = hmac.new(traffic.secrets.twilio.encode(), signed.encode(), hashlib.sha1).digest()
    headers = (
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Twilio-Signature", base64.b64encode(digest).decode()),
    )
    target = path + (f"?{query}" if query else "")
    return Webhook(source, target, headers, urlencode(params).encode(), message, opens)


def twilio_sms(traffic: Customers, follow: Thread | None) -> Webhook:
    """An inbound SMS."""
    opens = follow is None
    thread = follow or traffic.new_thread("twilio_sms", traffic.phone())
    sid = traffic.sid("SM")
    params = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "SAN FRANCISCO",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": traffic.text(),
        "FromCountry": "US",
        "To": _LINE,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": _TWILIO_ACCOUNT,
        "From": thread.customer,
        "ApiVersion": "2010-04-01",
    }
    return _twilio(traffic, "twilio_sms", "/webhooks/twilio/sms", params, ("twilio", sid), opens)


def twilio_sms_status(traffic: Customers, follow: Thread | None) -> Webhook:
    """A status callback of an SMS we sent (no message of its own)."""
    params = {
        "MessageSid": traffic.sid("SM"),
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "From": _LINE,
        "To": follow.customer if follow else traffic.phone(),
        "AccountSid": _TWILIO_ACCOUNT,
        "ApiVersion": "2010-04-01",
    }
    return _twilio(traffic, "twilio_sms_status", "/webhooks/twilio/sms/status", params, None, False)


def twilio_voice(traffic: Customers, follow: Thread | None) -> Webhook:
    """An incoming call; as a follow-up, the voicemail recording that call left."""
    if follow is not None:
        recording = traffic.sid("RE")
        params = {
            "AccountSid": _TWILIO_ACCOUNT,
            "CallSid": follow.root,
            "RecordingSid": recording,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Recordings/{recording}",
            "RecordingStatus": "completed",
            "RecordingDuration": str(traffic.rng.randrange(5, 90)),
            "RecordingChannels": "1",
            "RecordingSource": "RecordVerb",
        }
        # The recording callback has no From/To: our own signed callback URL carries them.
        query = urlencode({"From": follow.customer, "To": _LINE})
        path = "/webhooks/twilio/voice/recording"
        return _twilio(traffic, "twilio_voice", path, params, ("twilio", recording), False, query)
    call_sid = traffic.sid("CA")
    thread = traffic.new_thread("twilio_voice", traffic.phone(), call_sid)
    params = {
        "Called": _LINE,
        "ToState": "CA",
        "CallerCountry": "US",
        "Direction": "inbound",
        "CallSid": call_sid,
        "To": _LINE,
        "ToCountry": "US",
        "ApiVersion": "2010-04-01",
        "From": thread.customer,
        "AccountSid": _TWILIO_ACCOUNT,
        "Caller": thread.customer,
        "CallStatus": "ringing",
    }
    path = "/webhooks/twilio/voice"
    return _twilio(traffic, "twilio_voice", path, params, ("twilio", call_sid), True)


MESSAGING_BUILDERS: dict[str, Builder] = {
    "webchat": webchat,
    "whatsapp": whatsapp,
    "whatsapp_status": whatsapp_status,
    "messenger": messenger,
    "instagram": instagram,
    "twilio_sms": twilio_sms,
    "twilio_sms_status": twilio_sms_status,
    "twilio_voice": twilio_voice,
}
