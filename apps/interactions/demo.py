"""Demo customers with histories on several channels, built through the services so that the
event log is what real traffic would leave (idempotent: an organization with contacts is left)."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Organization, User
from apps.contacts.models import Contact, ContactField
from apps.contacts.services import contact_create, contact_note_add
from apps.interactions import services
from apps.interactions.models import Direction, Disposition, Interaction, Message, State
from apps.queues.models import Queue

_AUTHOR = {"contact": Message.Author.CONTACT, "agent": Message.Author.AGENT}


def _play(interaction: Interaction, row: dict, agent: User | None, start) -> None:
    """Walk the interaction through its life as it happened ``start`` ago."""
    from apps.queues.services import interaction_enqueue

    final = row.get("state", State.CLOSED)
    if final == State.NEW:
        pass
    elif final == State.QUEUED and interaction.queue_id:
        # Waiting now: through the real enqueue, so it has its place in line.
        interaction_enqueue(interaction=interaction, queue=interaction.queue)
    elif final in (State.QUEUED, State.ABANDONED):
        services.interaction_transition(interaction=interaction, to=State.QUEUED, at=start)
        if final == State.ABANDONED:
            services.interaction_transition(
                interaction=interaction, to=State.ABANDONED, at=start + timedelta(seconds=95)
            )
    else:
        if row["direction"] == Direction.INBOUND:
            services.interaction_transition(interaction=interaction, to=State.QUEUED, at=start)
            services.interaction_transition(
                interaction=interaction, to=State.OFFERED, at=start + timedelta(seconds=20)
            )
        services.interaction_assign(interaction=interaction, agent=agent)
        services.interaction_transition(
            interaction=interaction, to=State.ACTIVE, actor=agent, at=start + timedelta(seconds=25)
        )
    for i, (author, body) in enumerate(row.get("messages", [])):
        services.message_add(
            interaction=interaction,
            direction=Direction.INBOUND if author == "contact" else Direction.OUTBOUND,
            author_kind=_AUTHOR[author],
            author=agent if author == "agent" else None,
            body=body,
            created_at=start + timedelta(minutes=2 * i + 1),
            delivery_status=Message.Delivery.READ if author == "agent" else None,
        )
    if final == State.CLOSED:
        disposition = Disposition.objects.filter(
            organization=interaction.organization, code=row.get("disposition", "")
        ).first()
        # Closed when it happened (reports read the times), a few minutes after the last word.
        end = start + timedelta(minutes=2 * len(row.get("messages", [])) + 4)
        if interaction.state == State.ACTIVE:
            services.interaction_transition(
                interaction=interaction, to=State.WRAP_UP, actor=agent, at=end
            )
        services.interaction_close(
            interaction=interaction,
            actor=agent,
            disposition=disposition,
            notes=row.get("notes", ""),
            at=end + timedelta(seconds=30),
        )


def _demo_routing(*, organization: Organization, queues: dict, data: dict) -> None:
    """Every agent in every queue (offline until they sign in), skills, and a VIP rule."""
    from apps.queues.models import AgentSkill, QueueMember, RoutingRule, RoutingTarget, Skill
    from apps.queues.services import presence_get

    agents = list(User.objects.filter(organization=organization, groups__name="Agent"))
    for queue in queues.values():
        for order, agent in enumerate(agents):
            QueueMember.objects.get_or_create(
                organization=organization, queue=queue, agent=agent, defaults={"order": order}
            )
    for agent in agents:
        presence_get(agent=agent)
    for skill_name, levels in data.get("skills", {}).items():
        skill, _created = Skill.objects.get_or_create(organization=organization, name=skill_name)
        for username, level in levels.items():
            agent = User.objects.filter(organization=organization, username=username).first()
            if agent:
                AgentSkill.objects.get_or_create(
                    organization=organization, agent=agent, skill=skill, defaults={"level": level}
                )
    for order, rule in enumerate(data.get("rules", [])):
        created = RoutingRule.objects.create(
            organization=organization,
            name=rule["name"],
            order=order,
            channels=rule.get("channels", []),
            tiers=rule.get("tiers", []),
            languages=rule.get("languages", []),
        )
        for index, target in enumerate(rule["targets"]):
            RoutingTarget.objects.create(
                rule=created,
                order=index,
                queue=queues[target["queue"]],
                timeout_seconds=target.get("timeout_seconds"),
            )


@transaction.atomic
def demo_crm_load(*, organization: Organization, data: dict) -> int:
    """Returns how many demo contacts were created (0 when they exist already)."""
    if Contact.objects.filter(organization=organization).exists():
        return 0
    for field in data.get("contact_fields", []):
        ContactField.objects.get_or_create(
            organization=organization, key=field["key"], defaults=field
        )
    queues = {
        name: Queue.objects.get_or_create(organization=organization, name=name)[0]
        for name in data.get("queues", [])
    }
    _demo_routing(organization=organization, queues=queues, data=data)
    for row in data.get("dispositions", []):
        Disposition.objects.get_or_create(organization=organization, code=row["code"], defaults=row)
    from apps.interactions.models import CannedResponse

    for row in data.get("canned_responses", []):
        CannedResponse.objects.get_or_create(
            organization=organization, shortcut=row["shortcut"], defaults=row
        )
    now = timezone.now()
    for row in data.get("contacts", []):
        contact = contact_create(
            organization=organization,
            first_name=row["first_name"],
            last_name=row["last_name"],
            tier=row.get("tier", "standard"),
            language=row.get("language", ""),
            company_name=row.get("company", ""),
            tags=row.get("tags", []),
            custom_fields=row.get("custom_fields", {}),
            external_id=row.get("external_id", ""),
            identities=row["identities"],
            allow_crm_owned=True,
        )
        for body in row.get("notes", []):
            contact_note_add(contact=contact, body=body)
        previous = None
        for item in row["history"]:
            start = now - timedelta(days=item["days_ago"], hours=2)
            agent = User.objects.filter(username=item.get("agent", "")).first()
            interaction = services.interaction_create(
                organization=organization,
                channel=item["channel"],
                direction=item["direction"],
                contact=contact,
                queue=queues.get(item.get("queue")),
                subject=item.get("subject", ""),
                continues=previous if item.get("continues_previous") else None,
            )
            # History: the row is dated when it happened, not when the demo was loaded.
            Interaction.objects.filter(pk=interaction.pk).update(created_at=start)
            _play(interaction, item, agent, start)
            previous = interaction
    return len(data.get("contacts", []))
