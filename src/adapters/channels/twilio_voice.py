"""Twilio Voice webhooks: an incoming call, its status, and the voicemail it leaves.

A call to one of our numbers asks `POST /webhooks/twilio/voice` what to do. We publish the
call (kind CALL, so the caller's conversation gets an owner) and answer TwiML that tells the
caller they are being connected and sends them to wait for the offer the routing engine
makes (`adapters.channels.twilio_calls`: ring the agent, or the voicemail when nobody is
free). Twilio then calls back:

- `/webhooks/twilio/voice/recorded`: `<Record>`'s `action`, asked when the caller finished
  speaking. It publishes nothing and hangs up. Without it Twilio would ask the incoming-call
  URL again, and the caller would hear the greeting a second time, forever.
- `/webhooks/twilio/voice/recording`: the recording is stored -> VOICEMAIL with the
  recording's URL as attachment metadata and its duration, de-duplicated by `RecordingSid`.
- `/webhooks/twilio/voice/transcription`: Twilio's transcript -> VOICEMAIL with the text,
  de-duplicated by `TranscriptionSid`.
- `/webhooks/twilio/voice/status`: the number's call status callback -> `CallUpdate` of the
  call's message (keyed by `CallSid`, like the message): its status (queued, initiated,
  ringing, in-progress, completed, busy, no-answer, canceled, failed) and duration. The
  routing engine keeps the furthest status, so the agent sees one call with its outcome
  (a missed or failed call is one to call back). A status Twilio adds later is skipped.

Every event of one call has the thread key `voice:<From>|<To>`, so the voicemail joins the
caller's conversation. The recording status callback does not carry `From`/`To`, so the URLs
we hand Twilio carry them in their query; Twilio signs the full URL, query included, so they
cannot be forged. A caller who withholds their number (`anonymous`, `+266696687`, ...) is
known only for this call: identity `withheld:<CallSid>`, so their voicemail still reaches an
agent and never merges with another withheld caller. Any other caller is kept: in E.164 when
the numbering plan allows, else as Twilio gave the number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from fastapi import APIRouter, Request, Response

from adapters.channels.phone import ContactNumber, contact_number
from adapters.channels.twilio import (
    PROBLEMS,
    PROVIDER,
    SIGNED_FORM,
    TWIML_OK,
    Form,
    address,
    required,
    signed_form,
    twiml,
)
from adapters.channels.twiml import connecting_twiml, goodbye_twiml
from adapters.channels.webhook import envelope_errors, public_base_url, publish
from router.channels import Channel, Direction, IdentityKind
from router.errors import InvalidPayload
from router.inbound.envelope import (
    Attachment,
    CallStatus,
    CallUpdate,
    InboundMessage,
    MessageKind,
)

WITHHELD = "withheld"
# What Twilio and carriers put in `From` when the caller withholds their number (the
# numbers spell ANONYMOUS, RESTRICTED, BLOCKED, UNAVAILABLE on a keypad).
_WITHHELD_CALLERS = frozenset(
    {
        "anonymous",
        "restricted",
        "unknown",
        "private",
        "unavailable",
        "blocked",
        "+266696687",
        "+7378742833",
        "+2562533",
        "+8656696",
    }
)
# A caller's text that is still a number we merely cannot place (Mexico's `+521...`);
# anything else (`client:alice`, a SIP URI) names no one we could call back.
_DIALLABLE = re.compile(r"\+?[0-9]{1,20}")
# Twilio serves a recording's URL as WAV unless an extension asks for another format.
_RECORDING_TYPE = "audio/x-wav"


def call_message(
    form: Form,
    *,
    provider_message_id: str,
    kind: MessageKind,
    text: str = "",
    attachments: Sequence[Attachment] = (),
    metadata: dict[str, str] | None = None,
) -> InboundMessage:
    """A call event in the caller's conversation, `voice:<caller>|<our number>`."""
    call_sid = required(form, "CallSid")
    # A call we placed (an agent calling back) has the customer on the `To` side.
    outbound = form.get("Direction", "inbound").startswith("outbound")
    customer_field, line_field = ("To", "From") if outbound else ("From", "To")
    customer = _caller_number(required(form, customer_field), call_sid)
    _, line = address(form, line_field)
    return InboundMessage(
        channel=Channel.VOICE,
        provider=PROVIDER,
        provider_message_id=provider_message_id,
        conversation_key=f"voice:{customer.value}|{line.value}",
        customer=customer.identity(
            IdentityKind.PHONE, form.get("CallerName", "").strip()[:200] or None
        ),
        recipient=line.value,
        direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
        kind=kind,
        text=text,
        stripped_text=text,
        attachments=tuple(attachments),
        provider_timestamp=_timestamp(form),
        metadata={"call_sid": call_sid, **(metadata or {})},
    )


def _caller_number(raw: str, call_sid: str) -> ContactNumber:
    number = contact_number(raw)
    # Twilio's withheld-caller values include numbers the numbering plan accepts (+8656696).
    withheld = raw.strip().lower() in _WITHHELD_CALLERS
    if not withheld and (number.normalised or _DIALLABLE.fullmatch(number.value)):
        return number
    # Withheld or not a number at all: known for this call only, never merged.
    return ContactNumber(f"{WITHHELD}:{call_sid}", raw, False)


def _timestamp(form: Form) -> datetime | None:
    raw = form.get("Timestamp")
    if not raw:
        return None
    try:
        moment = parsedate_to_datetime(raw)
        # RFC 2822's "-0000" (no zone known) parses naive; the instant is still UTC.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise InvalidPayload("Timestamp: not an RFC 2822 date", field="Timestamp") from None


def incoming_call(form: Form) -> InboundMessage:
    """The CALL message for a ringing call, de-duplicated by `CallSid`."""
    call_sid = required(form, "CallSid")
    status = form.get("CallStatus", "ringing")
    return call_message(
        form, provider_message_id=call_sid, kind=MessageKind.CALL, metadata={"call_status": status}
    )


def call_status(form: Form) -> CallUpdate | None:
    """A call's status callback as an update of its call; None for a status we do not know."""
    call_sid = required(form, "CallSid")
    try:
        status = CallStatus(required(form, "CallStatus", longest=32))
    except ValueError:
        return None
    duration = form.get("CallDuration", "").strip()
    # Twilio's durations are whole seconds; ten digits is three centuries.
    seconds = (
        int(duration) if duration.isascii() and duration.isdigit() and len(duration) < 10 else None
    )
    # The call as it would have been published when it rang; the update brings the status.
    call = call_message(form, provider_message_id=call_sid, kind=MessageKind.CALL)
    return CallUpdate(
        provider=PROVIDER,
        provider_message_id=call_sid,
        conversation_key=call.conversation_key,
        status=status,
        duration_seconds=seconds,
        call=call,
        provider_timestamp=call.provider_timestamp,
    )


def voicemail_recording(form: Form) -> InboundMessage | None:
    """A stored recording as a VOICEMAIL; None while it is not (yet) completed."""
    recording_sid = required(form, "RecordingSid")
    status = form.get("RecordingStatus", "completed")
    if status != "completed":
        return None
    metadata = {"recording_sid": recording_sid, "recording_status": status}
    if form.get("RecordingDuration", "").isdigit():
        metadata["recording_duration_seconds"] = form["RecordingDuration"]
    attachment = Attachment(
        content_type=_RECORDING_TYPE, url=required(form, "RecordingUrl", longest=2048)
    )
    return call_message(
        form,
        provider_message_id=recording_sid,
        kind=MessageKind.VOICEMAIL,
        attachments=(attachment,),
        metadata=metadata,
    )


def voicemail_transcription(form: Form) -> InboundMessage | None:
    """A voicemail's transcript as a VOICEMAIL with text; None when there is no text."""
    transcription_sid = required(form, "TranscriptionSid")
    text = form.get("TranscriptionText", "").strip()
    # A failed or empty transcription adds nothing the recording did not already bring.
    if form.get("TranscriptionStatus", "completed") != "completed" or not text:
        return None
    metadata = {"transcription_sid": transcription_sid}
    if form.get("RecordingSid"):
        metadata["recording_sid"] = required(form, "RecordingSid")
    return call_message(
        form,
        provider_message_id=transcription_sid,
        kind=MessageKind.VOICEMAIL,
        text=text,
        metadata=metadata,
    )


async def _form_with_thread(request: Request) -> Form:
    form = await signed_form(request)
    # Our callback URLs carry From/To (signed with the URL); Twilio's own values win.
    thread = {
        name: request.query_params[name] for name in ("From", "To") if name in request.query_params
    }
    return {**thread, **form}


router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/twilio/voice",
    operation_id="webhook_twilio_voice",
    summary="An incoming call: publish it; the caller holds while the engine offers it",
    response_class=Response,
    responses={
        200: {"description": "<Say> and <Redirect> to wait TwiML", "content": {"text/xml": {}}},
        **PROBLEMS,
    },
    openapi_extra=SIGNED_FORM,
)
async def receive_call(request: Request) -> Response:
    """Publish the incoming call; the caller hears they are being connected, then waits."""
    form = await signed_form(request)
    with envelope_errors():
        call = incoming_call(form)
    await publish(request, [call])
    return twiml(connecting_twiml(public_base_url(request), form["From"], form["To"]))


@router.post(
    "/webhooks/twilio/voice/recorded",
    operation_id="webhook_twilio_voice_recorded",
    summary="The caller finished recording: thank them and hang up",
    response_class=Response,
    responses={
        200: {"description": "Goodbye and <Hangup/> TwiML", "content": {"text/xml": {}}},
        **PROBLEMS,
    },
    openapi_extra=SIGNED_FORM,
)
async def receive_recorded(request: Request) -> Response:
    """End the call after the voicemail; the recording arrives on its own callback."""
    await signed_form(request)
    return twiml(goodbye_twiml())


@router.post(
    "/webhooks/twilio/voice/status",
    operation_id="webhook_twilio_voice_status",
    summary="Call status callback: the call's status and duration",
    response_class=Response,
    responses={200: TWIML_OK, **PROBLEMS},
    openapi_extra=SIGNED_FORM,
)
async def receive_call_status(request: Request) -> Response:
    """Publish a call's status as an update of the call."""
    form = await signed_form(request)
    with envelope_errors():
        update = call_status(form)
    await publish(request, [update] if update else [])
    return twiml()


@router.post(
    "/webhooks/twilio/voice/recording",
    operation_id="webhook_twilio_voice_recording",
    summary="Recording status callback: the voicemail recording is stored",
    response_class=Response,
    responses={200: TWIML_OK, **PROBLEMS},
    openapi_extra=SIGNED_FORM,
)
async def receive_recording(request: Request) -> Response:
    """Publish a completed voicemail recording into the caller's conversation."""
    form = await _form_with_thread(request)
    with envelope_errors():
        message = voicemail_recording(form)
    await publish(request, [message] if message else [])
    return twiml()


@router.post(
    "/webhooks/twilio/voice/transcription",
    operation_id="webhook_twilio_voice_transcription",
    summary="Transcription callback: the voicemail's text",
    response_class=Response,
    responses={200: TWIML_OK, **PROBLEMS},
    openapi_extra=SIGNED_FORM,
)
async def receive_transcription(request: Request) -> Response:
    """Publish a voicemail's transcript into the caller's conversation."""
    form = await _form_with_thread(request)
    with envelope_errors():
        message = voicemail_transcription(form)
    await publish(request, [message] if message else [])
    return twiml()
