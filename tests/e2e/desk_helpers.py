"""What several browser tests do to the shared live system before they start."""

from tests.e2e.conftest import WS_MESSAGES_SCRIPT  # noqa: F401 (used by the desk tests)
from tests.e2e.test_desk import admin_token, api


def only_agent_available(live_system, agent: str) -> None:
    """Colleagues left available by other tests would take the work: they go offline."""
    token = admin_token(live_system)
    for user in api(live_system, "GET", "/api/v1/users/?page_size=100", token)["results"]:
        if user["username"].startswith("acme-agent") and user["username"] != agent:
            api(
                live_system,
                "POST",
                f"/api/v1/presence/{user['id']}/set/",
                token,
                {"status": "offline"},
            )
