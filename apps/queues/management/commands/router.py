"""``manage.py router``: the routing process (see ``apps.queues.router``)."""

import signal

from django.core.management.base import BaseCommand

from apps.queues.router import Router


class Command(BaseCommand):
    help = "Place waiting interactions with available agents, in batches, until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--per-line", type=int, default=200, help="heads read per queue line")
        parser.add_argument("--chunk", type=int, default=250, help="decisions per transaction")
        parser.add_argument("--rounds", type=int, default=None, help="stop after N rounds")

    def handle(self, *args, **options):
        router = Router(per_line=options["per_line"], chunk=options["chunk"])

        def stop(_signum, _frame):
            router.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("router: routing (Ctrl-C stops)")
        router.run(rounds=options["rounds"])
        self.stdout.write("router: stopped")
