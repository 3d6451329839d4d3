"""Answer (or refuse) as the customer a call our system placed through the simulated provider."""

from django.core.management.base import BaseCommand, CommandError

from apps.voicesim import engine
from apps.voicesim.models import SimCall


class Command(BaseCommand):
    help = (
        "The customer's phone: answer the latest call ringing at --number (click-to-call, a "
        "callback), or be busy, or let it ring out; print what they hear."
    )

    def add_arguments(self, parser):
        parser.add_argument("--number", required=True, help="The customer's number (E.164).")
        result = parser.add_mutually_exclusive_group()
        result.add_argument("--busy", action="store_true", help="Decline: the line is busy.")
        result.add_argument("--no-answer", action="store_true", help="Let it ring out.")
        parser.add_argument("--hangup", action="store_true", help="Hang up once connected.")

    def handle(self, *args, **options):
        call = (
            SimCall.objects.filter(to_number=options["number"], waiting__kind="ring")
            .exclude(status=engine.ENDED)
            .order_by("-created_at", "-id")
            .first()
        )
        if call is None:
            raise CommandError(f"No call is ringing at {options['number']}.")
        if options["busy"] or options["no_answer"]:
            call = engine.sim_decline(call=call, status="busy" if options["busy"] else "no-answer")
        else:
            call = engine.sim_answer(call=call)
            if options["hangup"]:
                call = engine.sim_hangup(call=call)
        for line in call.heard:
            self.stdout.write("  " + line["text"])
        self.stdout.write(f"Call {call.sid}: {call.get_status_display()}")
