"""What each role may do, as Django permissions ("app_label.codename").

Roles are auth groups kept in sync with this table by ``roles_sync`` after every migrate; apps
that come later add their permissions here.
"""

from apps.accounts.models import Role

_AGENT = [
    "accounts.view_team",
    "notifications.view_notification",
    "notifications.change_notification",
]
_PEOPLE_READ = ["accounts.view_user", "accounts.view_agentprofile", "accounts.view_subscription"]
_PEOPLE_WRITE = [
    "accounts.add_user",
    "accounts.change_user",
    "accounts.add_agentprofile",
    "accounts.change_agentprofile",
    "accounts.add_team",
    "accounts.change_team",
    "accounts.delete_team",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.AGENT: _AGENT,
    Role.SUPERVISOR: [*_AGENT, *_PEOPLE_READ, *_PEOPLE_WRITE],
    Role.MANAGER: [*_AGENT, *_PEOPLE_READ],
    Role.ADMIN: [
        *_AGENT,
        *_PEOPLE_READ,
        *_PEOPLE_WRITE,
        "accounts.delete_user",
        "accounts.delete_agentprofile",
        "accounts.view_apikey",
        "accounts.add_apikey",
        "accounts.change_apikey",
        "accounts.view_organization",
        "accounts.change_organization",
        "notifications.add_notification",
        "notifications.delete_notification",
    ],
}

# Roles that work in the Django admin (supervisors configure the center there).
STAFF_ROLES = {Role.SUPERVISOR, Role.MANAGER, Role.ADMIN}
