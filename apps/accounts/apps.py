from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs):
    from apps.accounts.services import roles_sync

    roles_sync()


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Organizations, plans and people"

    def ready(self) -> None:
        # Permissions exist only after migrate; the role groups are refreshed each time.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="accounts.roles_sync")
