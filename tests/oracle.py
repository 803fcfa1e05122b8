"""Reference computations written from docs/design.md §2 and §3, in plain Python (no SQL).

Inputs are lists of dicts keyed like the Prisma columns (camelCase):

* leads: ``id``, ``status`` (default ``'new'``), ``sentimentTag``, ``lastInboundAt``, ``lastOutboundAt``,
  ``lastZrgOutboundAt``, ``snoozedUntil``, ``assignedToUserId``, ``createdAt``, ``appointmentBookedAt``
* drafts: ``leadId``, ``status``, ``autoSendAction``
* messages: ``leadId``, ``channel``, ``direction``, ``source``, ``sentBy``, ``aiDraftId``, ``sentAt``

Missing keys mean null (or the column default for ``status``). Timestamps are naive UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

GLOBAL = "global"
EPOCH = datetime(1970, 1, 1)

ATTENTION_TAGS = frozenset(
    {
        "Meeting Booked",
        "Meeting Requested",
        "Call Requested",
        "Information Requested",
        "Positive",
        "Interested",
        "Follow Up",
    }
)
CLOSED_STATUSES = frozenset({"blacklisted", "unqualified"})

COUNT_KEYS = (
    "total",
    "totalNonBlacklisted",
    "needsRepair",
    "allResponses",
    "requiresAttention",
    "previouslyRequiredAttention",
    "aiReview",
    "aiSent",
    "awaitingReply",
)
AGGREGATE_KEYS = (
    "leadsCreated",
    "inboundMessages",
    "outboundMessages",
    "respondedLeads",
    "contactedLeads",
    "meetingsBooked",
    "aiSentMessages",
)

Record = Mapping[str, Any]


# What JavaScript's String.prototype.trim removes (the app trims setter ids with it).
JS_WHITESPACE = (
    " \t\n\r\f\v\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def zero_counts() -> dict[str, int]:
    return dict.fromkeys(COUNT_KEYS, 0)


def _not_snoozed(lead: Record, now: datetime) -> bool:
    until = lead.get("snoozedUntil")
    return until is None or until <= now


def _counts_for(leads: list[Record], review: set[str], ai_sent: set[str]) -> dict[str, int]:
    counts = zero_counts()
    for lead in leads:
        status = lead.get("status") or "new"
        last_inbound = lead.get("lastInboundAt")
        last_out = next(
            (value for value in (lead.get("lastZrgOutboundAt"), lead.get("lastOutboundAt")) if value is not None), EPOCH
        )
        is_open = status not in CLOSED_STATUSES
        attention = lead.get("sentimentTag") in ATTENTION_TAGS
        responded = last_inbound is not None and last_inbound > last_out
        replied_to = last_inbound is not None and last_out >= last_inbound

        counts["total"] += 1
        counts["totalNonBlacklisted"] += is_open
        counts["needsRepair"] += status == "needs_repair"
        counts["allResponses"] += responded
        counts["requiresAttention"] += attention and is_open and responded
        counts["previouslyRequiredAttention"] += attention and is_open and replied_to
        counts["aiReview"] += lead["id"] in review
        counts["aiSent"] += lead["id"] in ai_sent
    counts["awaitingReply"] = max(0, counts["totalNonBlacklisted"] - counts["requiresAttention"])
    return counts


def setter_of(lead: Record) -> str | None:
    """The setter scope of a lead: assignedToUserId trimmed; empty or missing means none."""
    value = lead.get("assignedToUserId")
    if value is None:
        return None
    return value.strip(JS_WHITESPACE) or None


def inbox_counts(
    leads: Iterable[Record], drafts: Iterable[Record], messages: Iterable[Record], now: datetime
) -> dict[str, dict[str, int]]:
    """{'global': counts, '<setter>': counts, ...} for one workspace at instant `now` (docs/design.md §2)."""
    visible = [lead for lead in leads if _not_snoozed(lead, now)]
    review = {
        draft["leadId"]
        for draft in drafts
        if draft.get("status", "pending") == "pending" and draft.get("autoSendAction") == "needs_review"
    }
    ai_sent = {
        message["leadId"]
        for message in messages
        if message.get("channel") == "email"
        and message.get("direction") == "outbound"
        and message.get("source") == "zrg"
        and message.get("sentBy") == "ai"
        and message.get("aiDraftId") is not None
    }

    result = {GLOBAL: _counts_for(visible, review, ai_sent)}
    by_setter: dict[str, list[Record]] = {}
    for lead in visible:
        setter = setter_of(lead)
        if setter is not None:
            by_setter.setdefault(setter, []).append(lead)
    for setter, own in by_setter.items():
        result[setter] = _counts_for(own, review, ai_sent)
    return result


def window_days(today: date, days: int) -> list[date]:
    """The last `days` UTC days, today included, oldest first."""
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def analytics_aggregates(
    leads: Iterable[Record], messages: Iterable[Record], today: date, days: int
) -> dict[date, dict[str, int]]:
    """{day: aggregates} for every day of the window, zeros included (docs/design.md §3)."""
    result = {day: dict.fromkeys(AGGREGATE_KEYS, 0) for day in window_days(today, days)}
    responded: dict[date, set[str]] = {}
    contacted: dict[date, set[str]] = {}
    for lead in leads:
        created = lead.get("createdAt")
        if created is not None and created.date() in result:
            result[created.date()]["leadsCreated"] += 1
        booked = lead.get("appointmentBookedAt")
        if booked is not None and booked.date() in result:
            result[booked.date()]["meetingsBooked"] += 1
    for message in messages:
        day = message["sentAt"].date()
        if day not in result:
            continue
        if message["direction"] == "inbound":
            result[day]["inboundMessages"] += 1
            responded.setdefault(day, set()).add(message["leadId"])
        elif message["direction"] == "outbound":
            result[day]["outboundMessages"] += 1
            contacted.setdefault(day, set()).add(message["leadId"])
            if message.get("sentBy") == "ai":
                result[day]["aiSentMessages"] += 1
    for day, lead_ids in responded.items():
        result[day]["respondedLeads"] = len(lead_ids)
    for day, lead_ids in contacted.items():
        result[day]["contactedLeads"] = len(lead_ids)
    return result
