"""The SQL behind the outcome columns of the conversation report: SLA attainment and
customer feedback (CSAT, CES, NPS), per bucket and group.

SLA clocks are bucketed by the moment they were settled (met or breached, whichever came
first); a running or paused clock is in no bucket. Feedback is bucketed by when the answer
was received. Definitions: docs/reports.md.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from router.reports.queries import parameters
from router.reports.window import Grouping, ReportWindow

# A clock is settled when met or breached; least() ignores the one that is NULL.
SETTLED_AT = "least(s.met_at, s.breached_at)"
# Met by its due time. A clock that never fell due (no open hours in reach) was met in time.
_MET_IN_TIME = "s.met_at IS NOT NULL AND (s.due_at IS NULL OR s.met_at <= s.due_at)"

# SLA clocks carry no group columns: the conversation's metrics row has them (the queue it
# arrived in, the first agent who took it, its channel).
_SLA_GROUP = {
    Grouping.QUEUE: "m.queue_id",
    Grouping.AGENT: "m.agent_id",
    Grouping.CHANNEL: "m.channel",
}
_FEEDBACK_GROUP = {
    Grouping.QUEUE: "queue_id",
    Grouping.AGENT: "agent_id",
    Grouping.CHANNEL: "channel",
}

_SLAS = f"""
SELECT date_trunc(:bucket, {SETTLED_AT}, :tz), {{group}}, s.target, count(*),
       count(*) FILTER (WHERE {_MET_IN_TIME})
FROM conversation_slas s LEFT JOIN conversation_metrics m USING (conversation_id)
WHERE {SETTLED_AT} >= :start AND {SETTLED_AT} < :end
  AND (s.met_at IS NOT NULL OR s.breached_at IS NOT NULL)
GROUP BY 1, 2, 3
"""
# Top and bottom of each scale: CSAT 4-5 satisfied; NPS 9-10 promoters, 0-6 detractors.
_FEEDBACK = """
SELECT date_trunc(:bucket, received_at, :tz), {group}, kind, count(*), sum(score),
       count(*) FILTER (WHERE (kind = 'csat' AND score >= 4) OR (kind = 'nps' AND score >= 9)),
       count(*) FILTER (WHERE kind = 'nps' AND score <= 6)
FROM feedback
WHERE received_at >= :start AND received_at < :end
GROUP BY 1, 2, 3
"""


@dataclass(slots=True)
class Tally:
    """How many of one kind in one bucket and group, their sum, and how many at each end.

    For an SLA target: `count` clocks settled, `top` met in time. For feedback: `count`
    answers, `total` their scores, `top` satisfied (CSAT) or promoters (NPS), `bottom`
    detractors (NPS).
    """

    count: int
    total: int = 0
    top: int = 0
    bottom: int = 0


Tallies = dict[tuple[datetime, str | None], dict[str, Tally]]


async def tallies(session: AsyncSession, window: ReportWindow, grouping: Grouping) -> Tallies:
    """Each SLA target's and each feedback kind's tally per (bucket, group) in the window."""
    found: Tallies = defaultdict(dict)
    bounds = parameters(window)
    slas = await session.execute(text(_SLAS.format(group=_SLA_GROUP[grouping])), bounds)
    for bucket, key, target, settled, met in slas:
        cell = found[(bucket, None if key is None else str(key))]
        cell[f"sla_{target}"] = Tally(count=settled, top=met)
    answers = await session.execute(text(_FEEDBACK.format(group=_FEEDBACK_GROUP[grouping])), bounds)
    for bucket, key, kind, count, total, top, bottom in answers:
        cell = found[(bucket, None if key is None else str(key))]
        cell[kind] = Tally(count=count, total=total, top=top, bottom=bottom)
    return found
