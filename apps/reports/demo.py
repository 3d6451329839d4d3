"""A month of demo history, so that ``make run`` shows real reports and a busy wallboard.

``demo_history_load`` plays a contact center's past for a demo organization — the last ``days``
days and today until a quarter of an hour ago, so the wallboard's "today" has figures too: on
opening days (Monday–Friday 8:00–18:00, Saturday mornings, in the organization's time zone)
customers arrive through the day (40–80 on weekdays) on voice mostly, web chat, e-mail and SMS,
wait in the demo queues for the demo agents, who sign in, take lunch and sign out. A small
simulation decides what happens to each: answered by the first free agent (sometimes after an
offer that timed out or was declined), put on hold, transferred to a colleague, wrapped up and
closed with a disposition; or abandoned (a few within seconds), sent to voicemail, called back.
Some customers come back within days (first-contact resolution).

The rows are what the services write, with the same events (``interaction.created``, the
``interaction.state_changed`` steps, ``interaction.transferred``, ``voicemail.recorded``,
``callback.scheduled``, ``presence.changed``), bulk-inserted so a month takes a few seconds;
then the report facts and rollups are brought up to date (``rollups_update_all``).

Idempotent: its interactions carry a ``demo-history-…`` provider reference; when the organization
has any, nothing is added. Seeded: the same organization gets the same history shape each run.
"""

from __future__ import annotations

import math
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Organization, Role, User
from apps.contacts.models import Contact, Identity, Tier
from apps.contacts.services import identity_normalize
from apps.interactions.models import Channel, Direction, Disposition, Event, Interaction, State
from apps.queues.models import Callback, PresenceStatus, Queue
from apps.reports.models import ReportSettings

MARK = "demo-history-"  # provider reference prefix of the generated interactions
CUTOFF = timedelta(minutes=15)  # today's history stops this long before now

FIRST_NAMES = [
    "Élodie", "Hugo", "Inès", "Louis", "Manon", "Nathan", "Océane", "Paul", "Rose", "Théo",
    "Zoé", "Arthur", "Lina", "Gabriel", "Emma", "Jules", "Léa", "Raphaël", "Sofia", "Adam",
    "Nora", "Victor", "Anna", "Sacha", "Olivia", "Ethan", "Maya", "Liam", "Ava", "Noah",
]  # fmt: skip
LAST_NAMES = [
    "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Moreau", "Simon", "Michel", "Lefebvre",
    "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont",
    "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Faure", "Andre", "Mercier",
    "Blanc", "Guerin", "Boyer", "Garnier", "Chevalier", "Francois",
]  # fmt: skip
SUBJECTS = {
    "Billing": ["Invoice question", "Double charge", "Refund request", "Change of card"],
    "Technical support": ["Router keeps rebooting", "No internet", "Slow connection", "Set-up"],
    "Sales": ["Upgrade to Premium", "Price of the Plus plan", "New line", "Moving house"],
}
CHANNELS = [(Channel.VOICE, 55), (Channel.WEBCHAT, 22), (Channel.EMAIL, 15), (Channel.SMS, 8)]
QUEUE_WEIGHTS = {"Technical support": 45, "Billing": 35, "Sales": 20}
TIERS = [(Tier.STANDARD, 70), (Tier.SILVER, 15), (Tier.GOLD, 10), (Tier.VIP, 5)]
CONTACTS = 1200


@dataclass
class _Item:
    """One interaction being planned: the row and its events (type, at, data, actor)."""

    row: Interaction
    events: list = field(default_factory=list)
    callback: Callback | None = None

    def event(self, type_: str, at: datetime, data: dict, actor: User | None = None) -> None:
        self.events.append((type_, at, data, actor))

    def move(self, moment: datetime, to: str, actor: User | None = None, **data) -> None:
        """A state change as ``interaction_transition`` records it (with its milestones)."""
        row = self.row
        at = moment
        self.event("interaction.state_changed", at, {"from": row.state, "to": to, **data}, actor)
        row.state = to
        if to == State.QUEUED and row.queued_at is None:
            row.queued_at = at
        if to == State.ACTIVE and row.answered_at is None:
            row.answered_at = at
        if to in (State.WRAP_UP, State.CLOSED, State.ABANDONED, State.VOICEMAIL):
            row.ended_at = row.ended_at or at
        if to == State.CLOSED:
            row.closed_at = at
        row.updated_at = at


class _Center:
    """The simulation: agents' shifts and when each is free again, and the planned items."""

    def __init__(self, organization: Organization, rng: random.Random, cutoff: datetime):
        self.organization = organization
        self.rng = rng
        self.cutoff = cutoff
        self.tz = ZoneInfo(organization.time_zone)
        self.queues = list(Queue.objects.filter(organization=organization).order_by("pk"))
        self.agents = list(
            User.objects.filter(organization=organization, groups__name=Role.AGENT, is_active=True)
            .order_by("pk")
            .distinct()
        )
        self.dispositions = {
            d.code: d for d in Disposition.objects.filter(organization=organization, is_active=True)
        }
        self.items: list[_Item] = []
        self.presence: list[tuple[datetime, User, str, str]] = []
        self.recent: list[Contact] = []
        self.contacts: list[Contact] = []
        self.fresh = 0
        self.phones: dict[int, str] = {}

    # --- Shifts -------------------------------------------------------------------------------

    def _local(self, day: date, hours: float) -> datetime:
        moment = datetime.combine(day, time(0), tzinfo=self.tz) + timedelta(hours=hours)
        # Through UTC: wall-clock arithmetic would skip or repeat an hour on DST days.
        return moment.astimezone(self.tz)

    def day(self, day: date) -> None:
        weekday = day.weekday()
        if weekday == 6:  # closed on Sundays
            return
        saturday = weekday == 5
        opens, closes = (9.0, 13.0) if saturday else (8.0, 18.0)
        working = self.agents[:2] if saturday else self.agents
        self.shifts: dict[int, tuple[datetime, datetime, datetime | None, datetime | None]] = {}
        self.free: dict[int, datetime] = {}
        for index, agent in enumerate(working):
            start = self._local(day, opens - self.rng.uniform(0, 0.25))
            end = self._local(day, closes + self.rng.uniform(0, 0.25))
            lunch = None if saturday else self._local(day, 11.75 + 0.5 * (index % 3))
            back = lunch + timedelta(minutes=self.rng.randint(45, 60)) if lunch else None
            self.shifts[agent.pk] = (start, end, lunch, back)
            self.free[agent.pk] = start
            self._sign(agent, start, end, lunch, back)
        by_pk = {a.pk: a for a in working}
        volume = self.rng.randint(15, 25) if saturday else self.rng.randint(45, 80)
        if weekday == 0:
            volume += 8  # Mondays are busier
        for arrival in self._arrivals(day, opens, closes, volume, saturday):
            if arrival >= self.cutoff - timedelta(hours=1):
                continue
            self._customer(arrival, by_pk)

    def _sign(self, agent: User, start, end, lunch, back) -> None:
        """``presence.changed`` of one agent's day (as ``presence_set`` writes them), ending
        offline: today's stop at the cutoff, when the demo's agents are signed out."""
        steps = [(start, PresenceStatus.AVAILABLE)]
        if lunch:
            steps += [(lunch, PresenceStatus.LUNCH), (back, PresenceStatus.AVAILABLE)]
        steps.append((end, PresenceStatus.OFFLINE))
        steps = [(at, status) for at, status in steps if at < self.cutoff]
        if steps and steps[-1][1] != PresenceStatus.OFFLINE:
            steps.append((self.cutoff, PresenceStatus.OFFLINE))
        previous = PresenceStatus.OFFLINE
        for at, status in steps:
            self.presence.append((at, agent, previous, status))
            previous = status

    def _arrivals(self, day, opens, closes, volume, saturday) -> list[datetime]:
        """Arrival times over the opening hours, peaking mid-morning and mid-afternoon."""
        times = []
        while len(times) < volume:
            if saturday:
                hour = self.rng.uniform(opens, closes)
            elif self.rng.random() < 0.55:
                hour = self.rng.gauss(10.5, 1.1)
            else:
                hour = self.rng.gauss(14.75, 1.3)
            if opens <= hour < closes - 0.05:
                times.append(self._local(day, hour))
        return sorted(times)

    def _working(self, at: datetime, by_pk: dict) -> list[User]:
        """Agents signed in and not at lunch at ``at``."""
        out = []
        for pk, (start, end, lunch, back) in self.shifts.items():
            if start <= at < end and not (lunch and lunch <= at < back):
                out.append(by_pk[pk])
        return out

    # --- Customers ----------------------------------------------------------------------------

    def _pick(self, options):
        values, weights = zip(*options, strict=True)
        return self.rng.choices(values, weights=weights)[0]

    def _contact(self) -> Contact:
        """Mostly someone new; now and then a customer of the last days coming back."""
        if self.recent and self.rng.random() < 0.15:
            return self.rng.choice(self.recent[-60:])
        if self.fresh < len(self.contacts):
            contact = self.contacts[self.fresh]
            self.fresh += 1
        else:
            contact = self.rng.choice(self.contacts)
        self.recent.append(contact)
        return contact

    def _queue(self) -> Queue:
        options = [(q, QUEUE_WEIGHTS.get(q.name, 10)) for q in self.queues]
        return self._pick(options)

    def _new(self, at: datetime, channel: str, direction: str, contact, queue, agent) -> _Item:
        subject = self.rng.choice(SUBJECTS.get(getattr(queue, "name", ""), ["Follow-up"]))
        row = Interaction(
            organization=self.organization,
            channel=channel,
            direction=direction,
            state=State.NEW,
            contact=contact,
            queue=queue,
            assigned_agent=agent,
            subject=subject,
            language=contact.language,
            provider_ref=f"{MARK}{len(self.items) + 1}",
            data={"demo_history": True},
            created_at=at,
            updated_at=at,
        )
        item = _Item(row=row)
        item.event(
            "interaction.created",
            at,
            {"channel": channel, "direction": direction, "continues": None},
        )
        self.items.append(item)
        return item

    def _customer(self, arrival: datetime, by_pk: dict) -> None:
        rng = self.rng
        channel = self._pick(CHANNELS)
        contact = self._contact()
        if rng.random() < 0.07:
            self._outbound(arrival, channel, contact, by_pk)
            return
        queue = self._queue()
        before = {Channel.VOICE: rng.uniform(8, 25), Channel.WEBCHAT: rng.uniform(5, 20)}
        item = self._new(
            arrival - timedelta(seconds=before.get(channel, 1)),
            channel,
            Direction.INBOUND,
            contact,
            queue,
            None,
        )
        item.move(arrival, State.QUEUED)
        if channel == Channel.VOICE and rng.random() < 0.04:
            self._voicemail(item, arrival, by_pk)
            return
        if channel in (Channel.EMAIL, Channel.SMS):
            # Written channels: an agent picks it up minutes (e-mail: up to an hour) later.
            wait = rng.uniform(60, 600) if channel == Channel.SMS else rng.uniform(300, 3600)
            answer = arrival + timedelta(seconds=wait)
            agents = self._working(answer, by_pk) or list(by_pk.values())
            if not agents:
                return  # still waiting: dropped at the end
            agent = rng.choice(agents)
            self._answer(item, answer - timedelta(seconds=2), answer, agent)
            self._handle(item, answer, agent, by_pk, talk=rng.uniform(90, 480), busy=False)
            return
        # Voice and chat: the first free agent takes it, unless the customer gives up first.
        if channel == Channel.VOICE and rng.random() < 0.03:
            patience = rng.uniform(1, 5)  # hangs up at once: a short abandon
        else:
            patience = rng.expovariate(1 / (90 if channel == Channel.VOICE else 240)) + 10
        agents = self._working(arrival, by_pk)
        # Now and then the first agent offered lets it ring out (or declines it): it goes back
        # to the queue, and the customer waits for the next free agent.
        missed = len(agents) > 1 and rng.random() < 0.05
        answer = None
        if agents:
            agent = min(agents, key=lambda a: self.free[a.pk])
            ring = rng.uniform(3, 9) if channel == Channel.VOICE else rng.uniform(2, 5)
            earliest = arrival + timedelta(seconds=24 if missed else 2)
            answer = max(earliest, self.free[agent.pk]) + timedelta(seconds=ring)
        if missed:
            item.move(arrival + timedelta(seconds=2), State.OFFERED)
            reason = rng.choice(["timed_out", "rejected"])
            back = arrival + timedelta(seconds=rng.uniform(6, 20) if reason == "rejected" else 22)
            # Another working agent missed it (the requeue event names who: per-agent reports).
            missed_by = next(a for a in agents if a.pk != agent.pk)
            item.move(back, State.QUEUED, reason=reason, agent=missed_by.pk)
        if answer is None or (answer - arrival).total_seconds() > patience:
            gave_up = arrival + timedelta(seconds=max(patience, 23 if missed else 0))
            item.move(gave_up, State.ABANDONED)
            if channel == Channel.VOICE and patience > 30 and rng.random() < 0.3:
                self._callback(item, gave_up, by_pk)
            return
        self._answer(item, answer - timedelta(seconds=ring), answer, agent)
        talk = rng.lognormvariate(math.log(210), 0.6) if channel == Channel.VOICE else 0
        talk = talk or rng.uniform(180, 720)
        self._handle(item, answer, agent, by_pk, talk=min(max(talk, 30), 1500), busy=True)

    def _answer(self, item: _Item, offered: datetime, answered: datetime, agent: User) -> None:
        item.move(offered, State.OFFERED)
        item.row.assigned_agent = agent
        item.move(answered, State.ACTIVE, actor=agent)

    def _handle(self, item, start, agent, by_pk, *, talk: float, busy: bool) -> None:
        """Talk (with a hold, a transfer to a colleague sometimes), wrap-up and close."""
        rng = self.rng
        at = start
        voice = item.row.channel == Channel.VOICE
        if voice and rng.random() < 0.18:
            first = talk * rng.uniform(0.3, 0.7)
            at += timedelta(seconds=first)
            item.move(at, State.ON_HOLD, actor=agent)
            at += timedelta(seconds=rng.uniform(20, 150))
            item.move(at, State.ACTIVE, actor=agent)
            talk -= first
        colleagues = [a for a in self._working(at, by_pk) if a.pk != agent.pk]
        transferable = item.row.channel in (Channel.VOICE, Channel.WEBCHAT)
        if transferable and colleagues and rng.random() < 0.08:
            first = talk * rng.uniform(0.3, 0.6)
            at += timedelta(seconds=first)
            to = min(colleagues, key=lambda a: self.free[a.pk])
            item.event(
                "interaction.transferred",
                at,
                {"from_agent": agent.pk, "to_agent": to.pk, "to_queue": None, "note": ""},
                agent,
            )
            item.move(at, State.OFFERED, actor=agent)
            if busy:
                self.free[agent.pk] = at
            agent = to
            item.row.assigned_agent = agent
            at += timedelta(seconds=rng.uniform(4, 12))
            item.move(at, State.ACTIVE, actor=agent)
            talk -= first
        at += timedelta(seconds=talk)
        item.move(at, State.WRAP_UP, actor=agent)
        at += timedelta(seconds=rng.uniform(10, 75) if voice else rng.uniform(5, 40))
        self._close(item, at, agent)
        if busy:
            self.free[agent.pk] = at

    def _close(self, item: _Item, at: datetime, agent: User) -> None:
        rng = self.rng
        queue = getattr(item.row.queue, "name", "")
        code = "sale" if queue == "Sales" and rng.random() < 0.4 else None
        code = code or ("refund" if queue == "Billing" and rng.random() < 0.15 else None)
        code = code or ("follow-up" if rng.random() < 0.15 else "resolved")
        disposition = self.dispositions.get(code)
        notes = "Refund issued." if code == "refund" else ""
        item.row.disposition = disposition
        item.row.wrap_up_notes = notes
        item.move(at, State.CLOSED, actor=agent, disposition=getattr(disposition, "code", None),
                  notes=notes)  # fmt: skip

    def _voicemail(self, item: _Item, arrival: datetime, by_pk: dict) -> None:
        rng = self.rng
        at = arrival + timedelta(seconds=rng.uniform(30, 60))
        item.move(at, State.VOICEMAIL)
        seconds = rng.randint(8, 50)
        at += timedelta(seconds=seconds + 2)
        item.event(
            "voicemail.recorded",
            at,
            {"recording": "", "url": "", "seconds": seconds},
        )
        listened = at + timedelta(minutes=rng.uniform(20, 120))
        agents = self._working(listened, by_pk) or list(by_pk.values())
        if listened < self.cutoff and agents:
            agent = rng.choice(agents)
            item.row.assigned_agent = agent
            self._close(item, listened, agent)

    def _callback(self, item: _Item, gave_up: datetime, by_pk: dict) -> None:
        """The caller asked to be called back: scheduled, then dialled by an agent."""
        rng = self.rng
        at = gave_up + timedelta(seconds=rng.uniform(20, 60))
        when = at + timedelta(minutes=rng.randint(20, 90))
        number = self.phones.get(item.row.contact.pk, "+33755000000")
        item.callback = Callback(
            organization=self.organization,
            contact=item.row.contact,
            queue=item.row.queue,
            number=number,
            scheduled_for=when,
            origin=item.row,
            status=Callback.Status.SCHEDULED,
            created_at=at,
            updated_at=at,
        )
        item.move(at, State.CALLBACK_SCHEDULED, callback=_CALLBACK, at=when.isoformat())
        item.event(
            "callback.scheduled",
            at,
            {"callback": _CALLBACK, "at": when.isoformat(), "keep_place": False},
        )
        agents = self._working(when, by_pk)
        if when + timedelta(minutes=20) >= self.cutoff or not agents:
            return
        agent = min(agents, key=lambda a: self.free[a.pk])
        start = max(when, self.free[agent.pk])
        call = self._new(
            start, Channel.VOICE, Direction.OUTBOUND, item.row.contact, item.row.queue, agent
        )
        call.row.subject = item.row.subject
        answered = start + timedelta(seconds=rng.uniform(8, 25))
        call.move(answered, State.ACTIVE, actor=agent)
        self._handle(call, answered, agent, by_pk, talk=rng.uniform(90, 400), busy=True)
        item.callback.status = Callback.Status.DONE
        item.callback.attempts = 1
        item.callback.last_outcome = "answered"
        item.callback.interaction = call.row
        item.move(call.row.closed_at, State.CLOSED)

    def _outbound(self, at: datetime, channel: str, contact, by_pk: dict) -> None:
        """An agent reaches out (a follow-up call, SMS or e-mail): no queue, no wait."""
        agents = self._working(at, by_pk)
        if not agents:
            return
        agent = min(agents, key=lambda a: self.free[a.pk])
        start = max(at, self.free[agent.pk])
        item = self._new(start, channel, Direction.OUTBOUND, contact, None, agent)
        connect = self.rng.uniform(8, 25) if channel == Channel.VOICE else 1
        answered = start + timedelta(seconds=connect)
        item.move(answered, State.ACTIVE, actor=agent)
        talk = self.rng.uniform(60, 360) if channel == Channel.VOICE else self.rng.uniform(30, 120)
        self._handle(item, answered, agent, by_pk, talk=talk, busy=channel == Channel.VOICE)


_CALLBACK = object()  # stands for the callback's id in event data until it is saved


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def _contacts(center: _Center, organization: Organization, rng: random.Random) -> None:
    """The demo's customers with a history (phone and e-mail identities, mixed tiers), in bulk:
    the rows ``contact_create`` writes, with normalised identities and ``contact.created``."""
    contacts, identities = [], []
    for n in range(CONTACTS):
        first = FIRST_NAMES[n % len(FIRST_NAMES)]
        last = LAST_NAMES[(n * 7 + n // len(FIRST_NAMES)) % len(LAST_NAMES)]
        contacts.append(
            Contact(
                organization=organization,
                first_name=first,
                last_name=last,
                tier=center._pick(TIERS),
                language="fr" if rng.random() < 0.6 else "en",
                external_id=f"{MARK}{n + 1}",
            )
        )
    Contact.objects.bulk_create(contacts, batch_size=500)
    for n, contact in enumerate(contacts):
        phone = identity_normalize(
            kind="phone", value=f"+33 7 55 {n // 100:02d} {n % 100:02d} {50 + n % 50}"
        )
        email = f"{_ascii(contact.first_name)[0]}.{_ascii(contact.last_name)}{n}@example.net"
        identities += [
            Identity(organization=organization, contact=contact, kind="phone", value=phone),
            Identity(organization=organization, contact=contact, kind="email", value=email),
        ]
        center.phones[contact.pk] = phone
    Identity.objects.bulk_create(identities, batch_size=1000)
    Event.objects.bulk_create(
        [
            Event(organization=organization, type="contact.created", contact=contact, data={})
            for contact in contacts
        ],
        batch_size=1000,
    )
    center.contacts = contacts


def _bulk_create_dated(model, rows: list) -> None:
    """Insert ``rows`` keeping their own created_at/updated_at (auto_now and auto_now_add
    stamp the insert time: put back when it happened)."""
    stamps = [(row.created_at, row.updated_at) for row in rows]
    model.objects.bulk_create(rows, batch_size=500)
    for row, (created, updated) in zip(rows, stamps, strict=True):
        row.created_at, row.updated_at = created, updated
    model.objects.bulk_update(rows, ["created_at", "updated_at"], batch_size=500)


def demo_history_days(*, organization_names) -> list[tuple[str, int]]:
    """(organization name, days back to its first demo history interaction) of the named
    organizations that have a demo history."""
    out = []
    for organization in Organization.objects.filter(name__in=organization_names).order_by("name"):
        first = (
            Interaction.objects.filter(organization=organization, provider_ref__startswith=MARK)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if first is not None:
            zone = ZoneInfo(organization.time_zone)
            today = timezone.now().astimezone(zone).date()
            out.append((organization.name, (today - first.astimezone(zone).date()).days))
    return out


def demo_history_exists(*, organization: Organization) -> bool:
    return Interaction.objects.filter(
        organization=organization, provider_ref__startswith=MARK
    ).exists()


@transaction.atomic
def demo_history_load(
    *, organization: Organization, days: int = 30, now: datetime | None = None, seed: int = 8
) -> int:
    """Create ``days`` days of past interactions (and today's, until a little before now) for
    ``organization`` and bring the report rollups up to date. Returns how many interactions
    were created: 0 when the organization has its history already, or no queue or agent."""
    from apps.reports.services import rollups_update_all

    if demo_history_exists(organization=organization):
        return 0
    now = now or timezone.now()
    rng = random.Random(f"{seed}-{organization.slug}")  # noqa: S311 (demo data, not security)
    center = _Center(organization, rng, cutoff=now - CUTOFF)
    if not center.queues or not center.agents:
        return 0
    ReportSettings.objects.get_or_create(
        organization=organization,
        defaults={"cost_per_agent_hour": Decimal("32.00"), "currency": "EUR"},
    )
    _contacts(center, organization, rng)
    today = now.astimezone(center.tz).date()
    for back in range(days, -1, -1):
        center.day(today - timedelta(days=back))
    # Only what is over before the cutoff (a callback's call ends its origin: both or none).
    items = [
        item
        for item in center.items
        if item.row.state in (State.CLOSED, State.ABANDONED)
        and max(at for _t, at, _d, _a in item.events) < center.cutoff
    ]
    rows = [item.row for item in items]
    callbacks = [item.callback for item in items if item.callback is not None]
    _bulk_create_dated(Interaction, rows)
    _bulk_create_dated(Callback, callbacks)
    events = []
    for item in items:
        for type_, at, data, actor in item.events:
            if item.callback is not None:
                data = {k: item.callback.pk if v is _CALLBACK else v for k, v in data.items()}
            events.append(
                Event(
                    organization=organization,
                    interaction=item.row,
                    contact=item.row.contact,
                    type=type_,
                    actor=actor,
                    actor_kind=Event.ActorKind.USER if actor else Event.ActorKind.SYSTEM,
                    at=at,
                    data=data,
                )
            )
    for at, agent, source, target in center.presence:
        events.append(
            Event(
                organization=organization,
                type="presence.changed",
                actor=agent,
                actor_kind=Event.ActorKind.USER,
                at=at,
                data={"agent": agent.pk, "from": source, "to": target, "reason": None},
            )
        )
    events.sort(key=lambda e: e.at)
    Event.objects.bulk_create(events, batch_size=1000)
    rollups_update_all(now=now)
    return len(rows)
