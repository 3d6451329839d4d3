"""What each role may do, as Django permissions ("app_label.codename").

Roles are auth groups kept in sync with this table by ``roles_sync`` after every migrate; apps
that come later add their permissions here.
"""

from apps.accounts.models import Role

_AGENT = [
    "accounts.view_team",
    "notifications.view_notification",
    "notifications.change_notification",
    # The CRM: agents look customers up, create and correct them, note and record consent.
    "contacts.view_contact",
    "contacts.add_contact",
    "contacts.change_contact",
    "contacts.view_identity",
    "contacts.add_identity",
    "contacts.view_contactnote",
    "contacts.add_contactnote",
    "contacts.view_consent",
    "contacts.add_consent",
    "contacts.view_company",
    "contacts.view_tag",
    "contacts.view_contactfield",
    # Their work: interactions of every channel.
    "interactions.view_interaction",
    "interactions.add_interaction",
    "interactions.change_interaction",
    "interactions.view_message",
    "interactions.add_message",
    "interactions.view_interactionnote",
    "interactions.add_interactionnote",
    "interactions.view_disposition",
    "interactions.view_event",
    "queues.view_queue",
]
_CENTER_READ = [
    # Bulk export hands over the whole CRM: managers and supervisors, not every agent.
    "contacts.export_contact",
    "contacts.view_contact",
    "contacts.view_identity",
    "contacts.view_contactnote",
    "contacts.view_consent",
    "contacts.view_company",
    "contacts.view_tag",
    "contacts.view_contactfield",
    "interactions.view_interaction",
    "interactions.view_message",
    "interactions.view_interactionnote",
    "interactions.view_disposition",
    "interactions.view_event",
    "queues.view_queue",
    "flows.view_flow",
    "campaigns.view_campaign",
]
# Supervisors configure the center and clean the CRM up.
_CENTER_CONFIG = [
    "contacts.merge_contact",
    "contacts.import_contact",
    "contacts.delete_identity",
    "contacts.change_identity",
    "contacts.add_company",
    "contacts.change_company",
    "contacts.add_tag",
    "contacts.change_tag",
    "contacts.delete_tag",
    "interactions.add_disposition",
    "interactions.change_disposition",
    "queues.add_queue",
    "queues.change_queue",
    "flows.add_flow",
    "flows.change_flow",
    "campaigns.add_campaign",
    "campaigns.change_campaign",
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
    Role.SUPERVISOR: [*_AGENT, *_CENTER_READ, *_PEOPLE_READ, *_PEOPLE_WRITE, *_CENTER_CONFIG],
    Role.MANAGER: [*_AGENT, *_CENTER_READ, *_PEOPLE_READ],
    Role.ADMIN: [
        *_AGENT,
        *_CENTER_READ,
        *_PEOPLE_READ,
        *_PEOPLE_WRITE,
        *_CENTER_CONFIG,
        "contacts.delete_contactnote",
        "contacts.add_contactfield",
        "contacts.change_contactfield",
        "contacts.delete_contactfield",
        "interactions.delete_disposition",
        # Webhooks: admins only (endpoints show their secret; payloads hold customer data).
        "integrations.view_webhookendpoint",
        "integrations.add_webhookendpoint",
        "integrations.change_webhookendpoint",
        "integrations.delete_webhookendpoint",
        "integrations.view_webhookdelivery",
        "integrations.change_webhookdelivery",
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
