from django.core.management.base import BaseCommand

from apps.accounts.demo import DEMO_FILE, demo_load


class Command(BaseCommand):
    help = "Create or refresh the demo organizations, plans and users, and print their logins."

    def add_arguments(self, parser):
        parser.add_argument("--file", default=str(DEMO_FILE))
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, file, url, **options):
        import json
        from pathlib import Path

        logins = demo_load(Path(file))
        password = json.loads(Path(file).read_text())["password"]
        self.stdout.write(self.style.SUCCESS(f"\nDemo ready. Sign in at {url}"))
        self.stdout.write(f"Every demo account's password: {password}\n")
        width = max(len(u) for _, u, _ in logins)
        for org, username, roles in logins:
            self.stdout.write(f"  {username.ljust(width)}  {org} — {roles}")
        self.stdout.write(f"\nAdmin: {url}admin/   API docs: {url}api/docs/\n")
        from apps.connectors.models import ChannelAccount

        demo_organizations = {org for org, _username, _roles in logins}
        for account in ChannelAccount.objects.filter(
            kind="webchat", is_active=True, organization__name__in=demo_organizations
        ).select_related("organization"):
            self.stdout.write(
                f"Web chat demo ({account.organization.name}): {url}widget/{account.key}/demo/\n"
            )
        from apps.reports.demo import demo_history_days

        for name, days in demo_history_days(organization_names=demo_organizations):
            self.stdout.write(
                f"Reports ({name}, {days} days of history): {url}reports/   "
                f"wallboard: {url}reports/wallboard/\n"
            )
        for account in ChannelAccount.objects.filter(
            kind="voice", is_active=True, organization__name__in=demo_organizations
        ).select_related("organization"):
            self.stdout.write(
                f"Phone simulator ({account.organization.name}, call {account.address}): "
                f"{url}voice/simulator/\n"
            )
