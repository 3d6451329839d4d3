from django.apps import AppConfig, apps
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs):
    # post_migrate fires once per app, and each app's permissions are created by its own
    # signal: the roles can take every permission only after the last app's.
    # (Apps without models send no post_migrate: compare with the last app that has some.)
    last = [a for a in apps.get_app_configs() if a.models_module is not None][-1]
    if sender.label != last.label:
        return
    from apps.accounts.services import roles_sync

    roles_sync()


def _end_session_sockets(sender, request, user, **kwargs):
    from apps.accounts.services import session_sockets_close

    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        session_sockets_close(session_key=session.session_key)


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Organizations, plans and people"

    def ready(self) -> None:
        post_migrate.connect(_sync_roles, dispatch_uid="accounts.roles_sync")
        user_logged_out.connect(_end_session_sockets, dispatch_uid="accounts.end_sockets")
