"""Every change of flows: new versions, publishing (one live version) and rollback."""

import logging

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.flows.models import Flow, FlowVersion, Node, Transition
from apps.flows.validation import flow_validate
from apps.interactions.services import event_record

logger = logging.getLogger(__name__)


class FlowInvalid(Exception):
    """A version that cannot go live; ``errors`` says why, node by node."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def flow_version_next_number(*, flow: Flow) -> int:
    """The number a new version of ``flow`` takes (the unique constraint guards races)."""
    return (flow.versions.aggregate(n=Max("number"))["n"] or 0) + 1


def flow_version_create(
    *, flow: Flow, actor=None, from_version: FlowVersion | None = None, note: str = ""
) -> FlowVersion:
    """A new draft of ``flow``: empty, or a copy of ``from_version``'s nodes and edges."""
    if from_version is not None and from_version.flow_id != flow.pk:
        raise ValueError("The version copied must belong to the same flow.")
    with transaction.atomic():
        # Lock the flow so two drafts made at once do not take the same number.
        Flow.objects.select_for_update().filter(pk=flow.pk).first()
        number = flow_version_next_number(flow=flow)
        version = FlowVersion.objects.create(
            organization_id=flow.organization_id,
            flow=flow,
            number=number,
            created_by=actor,
            note=note
            or (
                _("Copy of version %(number)s") % {"number": from_version.number}
                if from_version
                else ""
            ),
        )
        if from_version is not None:
            nodes = {}
            for node in from_version.nodes.all():
                nodes[node.pk] = Node.objects.create(
                    organization_id=flow.organization_id,
                    version=version,
                    key=node.key,
                    kind=node.kind,
                    label=node.label,
                    config=node.config,
                    is_start=node.is_start,
                    order=node.order,
                )
            Transition.objects.bulk_create(
                Transition(
                    organization_id=flow.organization_id,
                    version=version,
                    node=nodes[edge.node_id],
                    outcome=edge.outcome,
                    target=edge.target,
                )
                for edge in from_version.transitions.all()
            )
    return version


def flow_version_publish(*, version: FlowVersion, actor=None) -> FlowVersion:
    """Make ``version`` the live one (a draft, or an archived one: the instant rollback).

    Refuses an invalid version with :class:`FlowInvalid`; archives the previously live one.
    """
    with transaction.atomic():
        Flow.objects.select_for_update().filter(pk=version.flow_id).first()
        version = FlowVersion.objects.get(pk=version.pk)
        if version.status == FlowVersion.Status.PUBLISHED:
            return version
        errors = flow_validate(version)
        if errors:
            raise FlowInvalid(errors)
        now = timezone.now()
        previous = (
            FlowVersion.objects.filter(flow_id=version.flow_id, status=FlowVersion.Status.PUBLISHED)
            .values_list("number", flat=True)
            .first()
        )
        FlowVersion.objects.filter(
            flow_id=version.flow_id, status=FlowVersion.Status.PUBLISHED
        ).update(status=FlowVersion.Status.ARCHIVED, updated_at=now)
        rollback = version.status == FlowVersion.Status.ARCHIVED
        version.status = FlowVersion.Status.PUBLISHED
        version.published_at = now
        version.save(update_fields=["status", "published_at", "updated_at"])
        event_record(
            organization=version.organization,
            type="flow.published",
            actor=actor,
            data={
                "flow": version.flow_id,
                "version": version.number,
                "previous": previous,
                "rollback": rollback,
            },
        )
    logger.info(
        "flows.published",
        extra={"version": version.pk, "flow": version.flow_id, "actor": getattr(actor, "pk", None)},
    )
    return version


def flow_version_rollback(*, version: FlowVersion, actor=None) -> FlowVersion:
    """Put an archived version back live (the current one is archived)."""
    if version.status != FlowVersion.Status.ARCHIVED:
        raise ValueError("Only an archived version can be rolled back to.")
    return flow_version_publish(version=version, actor=actor)


def interaction_flow_step(
    *, interaction, input: str | None = None, flow: Flow | None = None, now=None
):
    """Run an interaction's flow one step and keep its state in ``interaction.data["flow"]``.

    Without a session yet, starts the live version of ``flow`` (default: the interaction's
    flow); otherwise gives it ``input``. A final step records a ``flow.finished`` event with the
    decision; carrying the decision out (enqueue, voicemail…) is the channel's job.

    Not under a row lock: an HTTP lookup may take seconds, and a call's webhooks come one
    at a time.
    """
    from apps.flows.engine import FlowContext, flow_advance, flow_start
    from apps.flows.selectors import flow_published_version
    from apps.interactions.services import event_record

    session = (interaction.data or {}).get("flow")
    if session is None:
        flow = flow or interaction.flow
        version = flow_published_version(flow=flow) if flow is not None else None
        if version is None or flow.organization_id != interaction.organization_id:
            raise ValueError("The flow has no published version.")
        identity = interaction.identity
        step = flow_start(
            version,
            FlowContext(
                organization=interaction.organization,
                contact=interaction.contact,
                channel=interaction.channel,
                language=interaction.language,
                caller=identity.value if identity is not None and identity.kind == "phone" else "",
                now=now,
            ),
        )
        interaction.flow = flow
    else:
        step = flow_advance(session, input, now=now)
    with transaction.atomic():
        interaction.data = {**(interaction.data or {}), "flow": step.session}
        interaction.save(update_fields=["data", "flow", "updated_at"])
        if step.is_final and not (session or {}).get("done"):
            event_record(
                organization=interaction.organization,
                type="flow.finished",
                interaction=interaction,
                data={
                    "version": step.session["version_id"],
                    "path": step.session["path"],
                    "decision": step.decision,
                },
            )
    return step
