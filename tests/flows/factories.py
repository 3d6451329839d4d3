"""Flow versions from a compact description: ``{key: (kind, config, {outcome: target})}``."""

from apps.flows.models import Flow, FlowVersion, Node, Transition


def build_version(organization, spec: dict, *, flow=None, start=None, status="draft"):
    """A version whose nodes are ``spec``'s, in order; the first (or ``start``) is the start."""
    if flow is None:
        flow = Flow.objects.create(
            organization=organization, name=f"Flow {Flow.objects.count() + 1}"
        )
    number = flow.versions.count() + 1
    version = FlowVersion.objects.create(
        organization=organization, flow=flow, number=number, status=status
    )
    start = start or next(iter(spec))
    nodes = {}
    for order, (key, (kind, config, _edges)) in enumerate(spec.items()):
        nodes[key] = Node.objects.create(
            organization=organization,
            version=version,
            key=key,
            kind=kind,
            config=config,
            is_start=key == start,
            order=order,
        )
    for key, (_kind, _config, edges) in spec.items():
        for outcome, target in edges.items():
            Transition.objects.create(
                organization=organization,
                version=version,
                node=nodes[key],
                outcome=outcome,
                target=target,
            )
    return version


def ivr_spec(queue_name: str = "Billing") -> dict:
    """Welcome, a menu (1 billing, 2 support, say "agent"), and enqueue or hang up."""
    return {
        "welcome": (
            "say",
            {"prompt": {"en": "Welcome to Acme.", "fr": "Bienvenue."}},
            {"next": "main"},
        ),
        "main": (
            "menu",
            {
                "prompt": {"en": "Press 1 for billing, 2 for support, or say agent."},
                "options": [
                    {"key": "1", "title": "Billing", "keywords": ["billing", "invoice"]},
                    {"key": "2", "title": "Support", "keywords": ["support"]},
                    {"outcome": "agent", "title": "An agent", "keywords": ["agent", "human"]},
                ],
                "timeout": 4,
                "retries": 1,
            },
            {
                "1": "billing",
                "2": "support",
                "agent": "support",
                "invalid": "bye",
                "timeout": "bye",
            },
        ),
        "billing": (
            "enqueue",
            {"queue": queue_name, "priority": 5, "skills": []},
            {},
        ),
        "support": ("enqueue", {"queue": queue_name}, {}),
        "bye": ("hangup", {"prompt": "Goodbye."}, {}),
    }
