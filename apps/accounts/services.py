"""Every change to organizations, subscriptions, people and API keys."""

import hashlib
import logging
import secrets
from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import (
    AgentProfile,
    ApiKey,
    Organization,
    Plan,
    Role,
    Subscription,
    User,
)
from apps.accounts.roles import ROLE_PERMISSIONS, STAFF_ROLES
from apps.accounts.selectors import organization_agent_seats_used, organization_entitlements
from apps.core.exceptions import LimitExceeded
from apps.core.features import require_feature
from apps.core.realtime import publish, session_group, user_group

logger = logging.getLogger(__name__)


def roles_sync() -> None:
    """Create the role groups and give them exactly the permissions of ``ROLE_PERMISSIONS``."""
    for role, perms in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.extend(
                Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)


@transaction.atomic
def organization_create(
    *, name: str, slug: str, plan: Plan, time_zone: str = "UTC", language: str = "en"
) -> Organization:
    organization = Organization.objects.create(
        name=name, slug=slug, time_zone=time_zone, language=language
    )
    Subscription.objects.create(organization=organization, plan=plan)
    logger.info("accounts.organization_created", extra={"organization": organization.pk})
    return organization


def agent_seats_check(*, organization: Organization, adding: int = 1) -> None:
    """Raise :class:`LimitExceeded` when ``adding`` more agents would pass the plan's seats."""
    seats = organization_entitlements(organization=organization).agent_seats
    if seats is None:
        return
    used = organization_agent_seats_used(organization=organization)
    if used + adding > seats:
        raise LimitExceeded(
            _(
                "All %(seats)s agent seats of the plan are in use. Deactivate an agent or add "
                "seats to the subscription."
            )
            % {"seats": seats},
            code="seat_limit",
        )


def _lock_organization(organization: Organization) -> None:
    # Serialises seat checks of one organization: two admins adding the last seat at once
    # cannot both succeed.
    Organization.objects.select_for_update().filter(pk=organization.pk).first()


def _apply_roles(user: User, roles: Iterable[str]) -> None:
    roles = set(roles)
    if roles and user.organization_id is None:
        raise ValidationError({"organization": _("A user with a role needs an organization.")})
    user.groups.set(Group.objects.filter(name__in=roles))
    user.is_staff = bool(roles & STAFF_ROLES) or user.is_superuser
    user.save(update_fields=["is_staff"])
    if Role.AGENT in roles:
        AgentProfile.objects.get_or_create(user=user, defaults={"organization": user.organization})


@transaction.atomic
def user_create(
    *,
    organization: Organization,
    username: str,
    password: str | None,
    roles: Iterable[str],
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    language: str = "",
    time_zone: str = "",
    actor=None,
) -> User:
    """Add a person; ``actor`` (None: the system) must be allowed to grant the roles."""
    roles = set(roles)
    unknown = roles - set(Role.values)
    if unknown:
        raise ValidationError(
            {"roles": _("Unknown role: %(role)s") % {"role": ", ".join(sorted(unknown))}}
        )
    user_roles_check(actor=actor, roles=roles)
    if Role.AGENT in roles:
        _lock_organization(organization)
        agent_seats_check(organization=organization)
    user = User(
        organization=organization,
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        language=language,
        time_zone=time_zone,
    )
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    _apply_roles(user, roles)
    logger.info("accounts.user_created", extra={"user": user.pk, "roles": sorted(roles)})
    return user


@transaction.atomic
def user_set_roles(*, user: User, roles: Iterable[str], actor=None) -> User:
    roles = set(roles)
    user_roles_check(actor=actor, roles=roles, current=user.role_names)
    if Role.AGENT in roles and user.is_active and not user.has_role(Role.AGENT):
        _lock_organization(user.organization)
        agent_seats_check(organization=user.organization)
    _apply_roles(user, roles)
    return user


def roles_grantable_by(actor) -> set[str]:
    """Roles ``actor`` may give: admins any, supervisors their agents and peers, others none."""
    if actor is None or getattr(actor, "is_superuser", False):
        return set(Role.values)
    held = {actor.api_key.role} if hasattr(actor, "api_key") else actor.role_names
    if Role.ADMIN in held:
        return set(Role.values)
    if Role.SUPERVISOR in held:
        return {Role.AGENT, Role.SUPERVISOR}
    return set()


def user_roles_check(*, actor, roles: set[str], current: set[str] = frozenset()) -> None:
    """Raise PermissionDenied unless ``actor`` may make ``current`` roles into ``roles``."""
    # Only the roles that change are checked: a supervisor may edit an admin's name.
    changed = roles ^ set(current)
    refused = changed - roles_grantable_by(actor)
    if refused:
        raise PermissionDenied(
            _("You may not grant or remove the role: %(roles)s")
            % {"roles": ", ".join(sorted(refused))}
        )


def user_edit_allowed(*, actor, target: User) -> bool:
    """May ``actor`` change ``target`` (profile, password, activity)? Only someone who could
    grant every role the target holds; nobody but a platform operator touches a superuser."""
    if getattr(actor, "is_superuser", False):
        return True
    if target.is_superuser:
        return False
    if getattr(actor, "pk", None) == target.pk:
        return True  # one's own name and e-mail; role changes are checked separately
    return target.role_names <= roles_grantable_by(actor)


def _hash_key(raw_key: str) -> str:
    # Keys are 256-bit random: a fast hash is enough (nothing to brute-force), unlike passwords.
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *, organization: Organization, name: str, role: str = Role.ADMIN, created_by: User | None = None
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never stored nor shown again."""
    require_feature(organization, "api")
    prefix = secrets.token_hex(4)
    raw_key = f"{prefix}.{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name,
        role=role,
        prefix=prefix,
        hashed_key=_hash_key(raw_key),
        created_by=created_by,
    )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The live key matching ``raw_key``, or None. Marks it used (at most once a minute)."""
    api_key = (
        ApiKey.objects.select_related("organization")
        .filter(
            hashed_key=_hash_key(raw_key), revoked_at__isnull=True, organization__is_active=True
        )
        .first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key


@transaction.atomic
def user_set_active(*, user: User, active: bool, actor=None) -> User:
    """(De)activate a person; an agent coming back takes a seat again."""
    if actor is not None and not user_edit_allowed(actor=actor, target=user):
        raise PermissionDenied(_("You may not change this person."))
    if active and not user.is_active and user.has_role(Role.AGENT):
        _lock_organization(user.organization)
        agent_seats_check(organization=user.organization)
    changed = user.is_active != active
    user.is_active = active
    user.save(update_fields=["is_active"])
    if changed:
        user_activity_record(user=user, active=active, actor=actor)
    if not active:
        user_sockets_close(user=user)
    return user


def user_activity_record(*, user: User, active: bool, actor=None) -> None:
    """Log a (de)activation in the event log: agent turnover is counted from these."""
    if user.organization_id is None:
        return
    from apps.interactions.services import event_record

    event_record(
        organization=user.organization,
        type="user.activated" if active else "user.deactivated",
        actor=actor,
        data={"user": user.pk},
    )


def session_sockets_close(*, session_key: str) -> None:
    """A signed-out session's live sockets close (other sessions of the user stay)."""
    publish(group=session_group(session_key), event="session.ended", data={})


def user_sockets_close(*, user: User) -> None:
    """Every live socket of a deactivated user closes."""
    publish(group=user_group(user.pk), event="session.ended", data={})


def user_set_preferences(*, user: User, language: str, time_zone: str) -> User:
    user.language = language
    user.time_zone = time_zone
    user.save(update_fields=["language", "time_zone"])
    return user
