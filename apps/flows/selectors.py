"""Reads of flows, always scoped to an organization."""

from dataclasses import dataclass, field

from apps.flows.models import Flow, FlowVersion


@dataclass
class Graph:
    """A version's nodes and edges as plain data: what validation and the interpreter read."""

    version_id: int
    organization_id: int
    nodes: dict[str, dict] = field(default_factory=dict)  # key -> {kind, label, config, is_start}
    edges: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> {outcome: target}
    order: list[str] = field(default_factory=list)

    @property
    def starts(self) -> list[str]:
        return [key for key in self.order if self.nodes[key]["is_start"]]


def flow_graph(*, version: FlowVersion) -> Graph:
    """The version's graph in two queries."""
    graph = Graph(version_id=version.pk, organization_id=version.organization_id)
    for node in version.nodes.order_by("order", "id"):
        graph.nodes[node.key] = {
            "kind": node.kind,
            "label": node.label,
            "config": node.config if isinstance(node.config, dict) else {},
            "is_start": node.is_start,
        }
        graph.order.append(node.key)
        graph.edges[node.key] = {}
    for source, outcome, target in version.transitions.values_list(
        "node__key", "outcome", "target"
    ):
        graph.edges.setdefault(source, {})[outcome] = target
    return graph


def flow_version_get(*, organization, version_id: int) -> FlowVersion | None:
    return (
        FlowVersion.objects.for_organization(organization)
        .select_related("flow")
        .filter(pk=version_id)
        .first()
    )


def flow_published_version(*, flow: Flow) -> FlowVersion | None:
    return flow.versions.filter(status=FlowVersion.Status.PUBLISHED).first()
