"""Place a simulated call to one of our numbers and print what the caller hears."""

from django.core.management.base import BaseCommand, CommandError

from apps.connectors.models import ChannelAccount, Kind
from apps.voicesim import engine


class Command(BaseCommand):
    help = (
        "Call a voice number through the simulated provider (signed webhooks) and print what "
        "the caller hears. Without --base the webhooks are called in-process."
    )

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, help="The number called (E.164).")
        parser.add_argument("--from", dest="caller", default="+14155550123", help="The caller.")
        parser.add_argument(
            "--keys", default="", help="Answers, one per question, comma-separated: 1,2"
        )
        parser.add_argument("--say", default="", help="Words said to the first question.")
        parser.add_argument("--message", default="", help="A voicemail to leave if asked.")
        parser.add_argument(
            "--base", default="", help="The running server's URL (default: in-process)."
        )
        parser.add_argument(
            "--hangup", action="store_true", help="Hang up at the end (default: stay on)."
        )

    def handle(self, *args, **options):
        account = (
            ChannelAccount.objects.select_related("organization")
            .filter(kind=Kind.VOICE, address=options["to"], is_active=True)
            .first()
        )
        if account is None:
            raise CommandError(f"No active voice number {options['to']}.")
        call = engine.sim_call_start(
            account=account, from_number=options["caller"], base=options["base"].rstrip("/")
        )
        printed = self._print(call, 0)
        if options["say"]:
            call = engine.sim_speak(call=call, words=options["say"])
            printed = self._print(call, printed)
        for answer in [k.strip() for k in options["keys"].split(",") if k.strip()]:
            if call.status == engine.ENDED:
                break
            self.stdout.write(f"> {answer}")
            call = engine.sim_keys(call=call, keys=answer, submit=True)
            printed = self._print(call, printed)
        if options["message"] and (call.waiting or {}).get("kind") == "record":
            self.stdout.write(f"> (message) {options['message']}")
            call = engine.sim_record(call=call, text=options["message"])
            printed = self._print(call, printed)
        if options["hangup"] and call.status != engine.ENDED:
            call = engine.sim_hangup(call=call)
            printed = self._print(call, printed)
        self.stdout.write(f"Call {call.sid}: {call.get_status_display()}")

    def _print(self, call, start: int) -> int:
        for line in call.heard[start:]:
            self.stdout.write("  " + line["text"])
        return len(call.heard)
