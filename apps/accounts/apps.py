from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs):
    # post_migrate fires once per app, and each app's permissions are created by its own
    # signal: the roles can take every permission only after the last app's.
    if sender.label != list(apps.get_app_configs())[-1].label:
        return
    from apps.accounts.services import roles_sync

    roles_sync()


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Organizations, plans and people"

    def ready(self) -> None:
        post_migrate.connect(_sync_roles, dispatch_uid="accounts.roles_sync")
