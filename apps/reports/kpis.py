"""Every KPI, defined once: its label, unit, the formula users read, and how it is computed.

A KPI is a ratio of *additive measures* (sums and counts kept in the 15-minute rollups), so
any interval, queue or agent grouping is a sum of rollup rows followed by one division: rollups
stay additive and a figure never depends on how it was grouped.

Measures of interactions (``apps.reports.models.IntervalRollup``) and of agent presence time
(``AgentStateRollup``) are listed in ``INTERACTION_MEASURES`` and ``AGENT_MEASURES``. Missed
offers are also kept per agent who missed them (``MissedOfferRollup``): reports grouped or
filtered by agent or team read those instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

UNITS = ("count", "seconds", "percent", "ratio", "money")

# Sums kept per (organization, 15-minute bucket, queue, agent, channel, direction, tier).
INTERACTION_MEASURES = (
    "interactions",  # facts in the bucket (every interaction, whatever happened)
    "offered",  # entered a queue
    "answered",  # entered a queue and an agent answered
    "handled",  # an agent answered (queued or not: outbound, direct)
    "abandoned",  # entered a queue, ended (abandoned) before an answer
    "short_abandoned",  # ... within the short-abandon window
    "answered_in_sla",  # answered within the queue's service-level threshold
    "wait_seconds",  # queued → answered or ended, over offered interactions
    "answer_wait_seconds",  # queued → answered, over answered interactions
    "talk_seconds",
    "hold_seconds",
    "wrap_seconds",
    "transfers",
    "missed_offers",  # offers declined or not answered in time (back to the queue); by agent
    # or team, read per agent who missed them (MissedOfferRollup, DailyAgentRollup)
    "voicemails",
    "callbacks",
    "inbound",
    "outbound",
    "fcr_resolved",  # handled, and no other interaction of the contact within N days
)
# Seconds per agent and 15-minute bucket, from presence events.
AGENT_MEASURES = ("logged_in_seconds", "ready_seconds")
# Derived at query time (not additive, so never summed across rows): see selectors.
QUERY_MEASURES = ("agents", "turnover_leavers", "turnover_average_agents", "cost_per_hour")

Value = int | float | None


@dataclass(frozen=True)
class Kpi:
    """One figure of the reports. ``numerator``/``denominator`` name measures summed (a
    leading ``-`` subtracts); the value is ``scale × numerator ÷ denominator`` (``None`` when
    the denominator is 0). ``compute`` replaces that for the few KPIs that need more."""

    code: str
    label: Promise
    unit: str
    formula: Promise
    numerator: tuple[str, ...] = ()
    denominator: tuple[str, ...] = ()
    scale: float = 1.0
    compute: Callable[[Mapping[str, float]], Value] | None = field(default=None, compare=False)
    # Where the figure comes from: interactions, agent presence time, or both.
    source: str = "interactions"

    def __post_init__(self):
        assert self.unit in UNITS, self.unit

    @property
    def measures(self) -> tuple[str, ...]:
        return tuple(m.lstrip("-") for m in (*self.numerator, *self.denominator))

    def value(self, measures: Mapping[str, float]) -> Value:
        if self.compute is not None:
            return self.compute(measures)
        top = _total(self.numerator, measures)
        if top is None:
            return None
        if not self.denominator:
            return int(top) if self.unit == "count" else top
        bottom = _total(self.denominator, measures)
        if not bottom:
            return None
        return self.scale * top / bottom


def _total(names: tuple[str, ...], measures: Mapping[str, float]) -> float | None:
    total = 0.0
    for name in names:
        sign = -1 if name.startswith("-") else 1
        value = measures.get(name.lstrip("-"))
        if value is None:
            return None
        total += sign * value
    return total


def _cost_per_contact(m: Mapping[str, float]) -> Value:
    handled, rate = m.get("handled") or 0, m.get("cost_per_hour")
    if not handled or rate is None or m.get("logged_in_seconds") is None:
        return None
    return float(rate) * m["logged_in_seconds"] / 3600 / handled


def _turnover(m: Mapping[str, float]) -> Value:
    average = m.get("turnover_average_agents")
    if not average:
        return None
    return 100.0 * (m.get("turnover_leavers") or 0) / average


def _none(_m: Mapping[str, float]) -> Value:
    return None


_OFFERED_NOTE = _("Interactions count in the interval they were offered (even across midnight).")


def _k(code, label, unit, formula, *num, den=(), scale=1.0, compute=None, source="interactions"):
    return Kpi(
        code=code,
        label=label,
        unit=unit,
        formula=formula,
        numerator=tuple(num),
        denominator=tuple(den),
        scale=scale,
        compute=compute,
        source=source,
    )


_LIST = [
    _k(
        "offered",
        _("Offered"),
        "count",
        _(
            "Interactions that entered a queue, counted in the interval they were offered "
            "(one that spans midnight counts on the day it was offered)."
        ),
        "offered",
    ),
    _k(
        "answered",
        _("Answered"),
        "count",
        _("Interactions that entered a queue and were answered by an agent."),
        "answered",
    ),
    _k(
        "abandoned",
        _("Abandoned"),
        "count",
        _("Interactions that entered a queue and ended before an agent answered."),
        "abandoned",
    ),
    _k(
        "short_abandoned",
        _("Short abandons"),
        "count",
        _("Abandoned within the short-abandon window (report settings)."),
        "short_abandoned",
    ),
    _k(
        "abandonment_rate",
        _("Abandonment rate"),
        "percent",
        _("(abandoned − short abandons) ÷ (offered − short abandons) × 100"),
        "abandoned",
        "-short_abandoned",
        den=("offered", "-short_abandoned"),
        scale=100.0,
    ),
    _k(
        "service_level",
        _("Service level"),
        "percent",
        _(
            "answered within the queue's threshold ÷ (answered + abandoned after the "
            "short-abandon window) × 100"
        ),
        "answered_in_sla",
        den=("answered", "abandoned", "-short_abandoned"),
        scale=100.0,
    ),
    _k(
        "asa",
        _("Average speed of answer"),
        "seconds",
        _("time from entering the queue to the answer ÷ answered"),
        "answer_wait_seconds",
        den=("answered",),
    ),
    _k(
        "average_wait",
        _("Average wait"),
        "seconds",
        _("time waited in queue (until answered or ended) ÷ offered"),
        "wait_seconds",
        den=("offered",),
    ),
    _k(
        "aht",
        _("Average handle time"),
        "seconds",
        _("(talk + hold + wrap-up) ÷ handled"),
        "talk_seconds",
        "hold_seconds",
        "wrap_seconds",
        den=("handled",),
    ),
    _k(
        "average_talk",
        _("Average talk time"),
        "seconds",
        _("talk time (live, not on hold) ÷ handled"),
        "talk_seconds",
        den=("handled",),
    ),
    _k(
        "average_hold",
        _("Average hold time"),
        "seconds",
        _("time on hold ÷ handled"),
        "hold_seconds",
        den=("handled",),
    ),
    _k(
        "average_wrap",
        _("Average wrap-up time"),
        "seconds",
        _("time in wrap-up ÷ handled"),
        "wrap_seconds",
        den=("handled",),
    ),
    _k(
        "handled",
        _("Handled"),
        "count",
        _("Interactions an agent answered (inbound or outbound)."),
        "handled",
    ),
    _k(
        "fcr",
        _("First-contact resolution"),
        "percent",
        _(
            "handled interactions whose contact did not come back on any channel within N days "
            "(report settings) ÷ handled × 100"
        ),
        "fcr_resolved",
        den=("handled",),
        scale=100.0,
    ),
    _k(
        "transfers",
        _("Transfers"),
        "count",
        _("Transfers (blind or warm) of interactions."),
        "transfers",
    ),
    _k(
        "missed_offers",
        _("Missed offers"),
        "count",
        _(
            "Offers declined or not answered in time (the interaction went back to the queue). "
            "By agent or team, or filtered by agents or teams, an offer counts for the agent who "
            "missed it (not the one who handled the interaction); otherwise per interaction, in "
            "the interval it was offered."
        ),
        "missed_offers",
    ),
    _k(
        "voicemails",
        _("Voicemails"),
        "count",
        _("Interactions that went to voicemail."),
        "voicemails",
    ),
    _k(
        "callbacks",
        _("Callbacks"),
        "count",
        _("Interactions for which a callback was scheduled."),
        "callbacks",
    ),
    _k("inbound", _("Inbound"), "count", _("Inbound interactions."), "inbound"),
    _k("outbound", _("Outbound"), "count", _("Outbound interactions."), "outbound"),
    _k(
        "outbound_inbound_ratio",
        _("Outbound : inbound"),
        "ratio",
        _("outbound ÷ inbound"),
        "outbound",
        den=("inbound",),
    ),
    _k(
        "occupancy",
        _("Occupancy"),
        "percent",
        _(
            "handling time (talk + hold + wrap-up) ÷ (handling + idle available time) × 100, "
            "i.e. ÷ time in the Available or Wrap-up status"
        ),
        "talk_seconds",
        "hold_seconds",
        "wrap_seconds",
        den=("ready_seconds",),
        scale=100.0,
        source="mixed",
    ),
    _k(
        "utilisation",
        _("Utilisation"),
        "percent",
        _("handling time (talk + hold + wrap-up) ÷ logged-in time (any status but Offline) × 100"),
        "talk_seconds",
        "hold_seconds",
        "wrap_seconds",
        den=("logged_in_seconds",),
        scale=100.0,
        source="mixed",
    ),
    _k(
        "interactions_per_agent",
        _("Interactions per agent"),
        "ratio",
        _("handled ÷ agents who handled at least one"),
        "handled",
        den=("agents",),
    ),
    _k(
        "cost_per_contact",
        _("Cost per contact"),
        "money",
        _("cost per agent-hour (report settings) × logged-in hours ÷ handled"),
        compute=_cost_per_contact,
        source="mixed",
    ),
    _k(
        "agent_turnover",
        _("Agent turnover"),
        "percent",
        _("agents deactivated in the period ÷ average active agents (at its start and end) × 100"),
        compute=_turnover,
        source="agents",
    ),
    _k(
        "csat",
        _("CSAT"),
        "percent",
        _("satisfied survey answers ÷ survey answers × 100 (when surveys exist)"),
        compute=_none,
        source="surveys",
    ),
    _k(
        "nps",
        _("NPS"),
        "ratio",
        _("% promoters − % detractors (when surveys exist)"),
        compute=_none,
        source="surveys",
    ),
]

KPIS: dict[str, Kpi] = {kpi.code: kpi for kpi in _LIST}
OFFERED_NOTE = _OFFERED_NOTE
