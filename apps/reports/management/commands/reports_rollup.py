"""Bring report facts and rollups up to date with the Event log, or rebuild them from it."""

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import make_aware

from apps.accounts.models import Organization
from apps.reports import services


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"Not a date or time: {value}")
        moment = datetime(day.year, day.month, day.day)
    return moment if moment.tzinfo else make_aware(moment)


class Command(BaseCommand):
    help = (
        "Update report facts and rollups from new events; --rebuild recomputes them from the "
        "events (optionally of one organization and the interactions with events in a range)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true")
        parser.add_argument("--from", dest="start", help="ISO date or time (UTC when naive)")
        parser.add_argument("--to", dest="end", help="ISO date or time, exclusive")
        parser.add_argument("--organization", help="slug")

    def handle(self, *args, rebuild, start, end, organization, **options):
        if not rebuild:
            if start or end or organization:
                raise CommandError("--from, --to and --organization go with --rebuild.")
            events = services.rollups_update_all()
            self.stdout.write(f"{events} events folded into the reports.")
            return
        org_id = None
        if organization:
            org = Organization.objects.filter(slug=organization).first()
            if org is None:
                raise CommandError(f"No organization {organization}.")
            org_id = org.pk
        result = services.rollups_rebuild(
            organization_id=org_id, start=_moment(start), end=_moment(end)
        )
        self.stdout.write(
            f"Rebuilt: {result['buckets']} buckets, {result['rollup_rows']} rollup rows, "
            f"{result['agent_state_rows']} agent-state rows."
        )
