"""Business hours: is a queue open at an instant, when does it next open, its weekly schedule.

Everything is read on the local wall clock of ``BusinessHours.time_zone``: a period 08:00–18:00
means what the clocks of that zone show, whatever the UTC offset is that day, and a holiday is
a local date (closed from its local midnight to the next).

Daylight-saving transitions, decided once here so every caller agrees:

- **Gap** (spring forward; in Europe/Paris 02:00–03:00 on the last Sunday of March does not
  exist): a period opening inside the gap opens when the clocks jump, so 02:30–05:00 opens at
  03:00 local (01:00 UTC). A period lying wholly inside the gap does not open that day.
- **Fold** (fall back; 02:00–03:00 happens twice on the last Sunday of October): an opening
  time inside the fold opens at its *first* occurrence. Openness only ever reads the wall
  clock, so 02:30–05:00 is open 02:30–03:00 summer time, closed again when the clocks go back
  to 02:00, and reopens at the second 02:30.

``hours_next_opening`` returns the first instant at which ``hours_is_open`` turns true, so the
two never disagree.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import pgettext

from apps.queues.models import BusinessHours, BusinessHoursPeriod, Queue

# Wide enough to catch every UTC-offset change yet never two in one step (real zones change
# at most twice a year; the closest pair on record is days apart).
_TRANSITION_SCAN_STEP = timedelta(hours=6)


@dataclass(frozen=True)
class _Schedule:
    """One business hours, loaded: the zone, periods by weekday and the holidays in a window."""

    zone: ZoneInfo
    periods: dict[int, list[tuple[time, time]]]
    holidays: frozenset[date]

    def is_open_at(self, instant: datetime) -> bool:
        local = instant.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        now = local.time()
        return any(opens <= now < closes for opens, closes in self.periods.get(local.weekday(), ()))


def _require_aware(at: datetime) -> None:
    if timezone.is_naive(at):
        raise ValueError("Business hours need an aware datetime (django.utils.timezone.now()).")


def _prefetched(hours: BusinessHours, name: str) -> list | None:
    """Rows of ``hours.<name>`` when the caller prefetched them, else ``None`` (query instead)."""
    cache = getattr(hours, "_prefetched_objects_cache", {})
    return list(cache[name]) if name in cache else None


def _load_periods(
    hours: BusinessHours, *, weekday: int | None = None
) -> dict[int, list[tuple[time, time]]]:
    """Opening periods by weekday, sorted by opening time (one query, none if prefetched)."""
    rows = _prefetched(hours, "periods")
    if rows is None:
        periods = hours.periods.all()
        if weekday is not None:
            periods = periods.filter(weekday=weekday)
        triples = list(periods.values_list("weekday", "opens", "closes"))
    else:
        triples = [(period.weekday, period.opens, period.closes) for period in rows]
    by_weekday: dict[int, list[tuple[time, time]]] = defaultdict(list)
    for day, opens, closes in triples:
        by_weekday[day].append((opens, closes))
    return {day: sorted(day_periods) for day, day_periods in by_weekday.items()}


def _load_holidays(hours: BusinessHours, *, first: date, last: date) -> frozenset[date]:
    """Holiday dates from ``first`` to ``last`` inclusive (one query, none if prefetched)."""
    rows = _prefetched(hours, "holidays")
    if rows is None:
        dates = hours.holidays.filter(date__range=(first, last)).values_list("date", flat=True)
        return frozenset(dates)
    return frozenset(holiday.date for holiday in rows if first <= holiday.date <= last)


def _exists(local: datetime) -> bool:
    """Whether a wall time really happens (it does not inside a spring-forward gap)."""
    round_trip = local.astimezone(UTC).astimezone(local.tzinfo)
    return round_trip.replace(tzinfo=None) == local.replace(tzinfo=None)


def _offset_at(zone: ZoneInfo, timestamp: int) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, UTC).astimezone(zone).utcoffset()


def _offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """UTC instants in ``[start, end]`` at which the zone's clocks jump (forward or back)."""
    changes = []
    low = int(start.timestamp())
    end_timestamp = int(end.timestamp()) + 1
    step = int(_TRANSITION_SCAN_STEP.total_seconds())
    while low < end_timestamp:
        high = min(low + step, end_timestamp)
        before = _offset_at(zone, low)
        if before != _offset_at(zone, high):
            # Bisect to the second: the first instant already on the new offset.
            left, right = low, high
            while right - left > 1:
                middle = (left + right) // 2
                if _offset_at(zone, middle) == before:
                    left = middle
                else:
                    right = middle
            changes.append(datetime.fromtimestamp(right, UTC))
        low = high
    return changes


def _opening_candidates(
    schedule: _Schedule, *, first: date, last: date, start: datetime, end: datetime
) -> list[datetime]:
    """Every UTC instant from which the wall clock can enter a period, sorted.

    The clock enters a period either by reaching its opening time (once, or twice in a fold)
    or by jumping into it at an offset change (which also covers openings inside a gap).
    """
    candidates = _offset_changes(schedule.zone, start, end)
    day = first
    while day <= last:
        for opens, _closes in schedule.periods.get(day.weekday(), ()):
            for fold in (0, 1):
                local = datetime.combine(day, opens, tzinfo=schedule.zone).replace(fold=fold)
                if _exists(local):
                    candidates.append(local.astimezone(UTC))
        day += timedelta(days=1)
    # UTC on both sides: datetimes sharing one ZoneInfo compare by wall time, ignoring fold.
    return sorted(candidate for candidate in set(candidates) if start < candidate <= end)


def hours_is_open(*, hours: BusinessHours | None, at: datetime) -> bool:
    """Whether these business hours are open at ``at`` (``None``: no hours, always open).

    At most two queries (today's holiday, today's periods); none when ``periods`` and
    ``holidays`` are prefetched.
    """
    _require_aware(at)
    if hours is None:
        return True
    zone = ZoneInfo(hours.time_zone)
    local_date = at.astimezone(zone).date()
    holidays = _load_holidays(hours, first=local_date, last=local_date)
    if holidays:
        return False
    schedule = _Schedule(
        zone=zone, periods=_load_periods(hours, weekday=local_date.weekday()), holidays=holidays
    )
    return schedule.is_open_at(at)


def hours_next_opening(
    *, hours: BusinessHours | None, at: datetime, horizon_days: int = 14
) -> datetime | None:
    """When these hours next open: ``at`` itself when open now, else an aware datetime in the
    hours' zone no later than ``horizon_days`` after ``at``, else ``None``.

    At most two queries (all periods, the holidays of the window); none when prefetched.
    """
    _require_aware(at)
    if horizon_days < 0:
        raise ValueError("horizon_days cannot be negative.")
    if hours is None:
        return at
    zone = ZoneInfo(hours.time_zone)
    start = at.astimezone(UTC)
    end = start + timedelta(days=horizon_days)
    # A day of margin each side: a clock going back at midnight revisits the previous date.
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    schedule = _Schedule(
        zone=zone,
        periods=_load_periods(hours),
        holidays=_load_holidays(hours, first=first, last=last),
    )
    if schedule.is_open_at(start):
        return at
    candidates = _opening_candidates(schedule, first=first, last=last, start=start, end=end)
    for candidate in candidates:
        if schedule.is_open_at(candidate):
            return candidate.astimezone(zone)
    return None


def queue_is_open(*, queue: Queue, at: datetime | None = None) -> bool:
    """Whether a queue takes interactions at ``at`` (default now) under its business hours.

    Lists of queues: ``select_related("business_hours")`` and prefetch
    ``business_hours__periods`` and ``business_hours__holidays`` to stay at a fixed query count.
    """
    if at is None:
        at = timezone.now()
    if queue.business_hours_id is None:
        _require_aware(at)
        return True
    return hours_is_open(hours=queue.business_hours, at=at)


def hours_describe(*, hours: BusinessHours) -> list[tuple[str, str]]:
    """The weekly schedule, Monday first, one line per day: ("Monday", "08:00–12:00, 13:00–18:00").

    Days without a period read "Closed". Holidays are dated exceptions, not part of the week.
    """
    labels = dict(BusinessHoursPeriod._meta.get_field("weekday").choices)
    periods = _load_periods(hours)
    closed = pgettext("business hours", "Closed")
    return [
        (
            str(label),
            ", ".join(f"{opens:%H:%M}–{closes:%H:%M}" for opens, closes in periods.get(weekday, ()))
            or closed,
        )
        for weekday, label in sorted(labels.items())
    ]
