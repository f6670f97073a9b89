"""``stratoflow manage flights_identity``: the flights left under an older identifier."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from stratoflow.server.catalog.selectors import flights_named_otherwise


class Command(BaseCommand):
    """List the flights whose files today's importer puts on other flights (read only).

    Migration ``catalog/0005_flight_identity`` left them, where moving their data would have
    lost or decided something; see
    :func:`~stratoflow.server.catalog.selectors.flights_named_otherwise`.
    """

    help = "list the flights whose files now name other flights (left by catalog/0005)"

    def handle(self, *args: Any, **options: Any) -> None:
        left = flights_named_otherwise()
        for identifier, names in left.items():
            self.stdout.write(f"{identifier}: its files now name {', '.join(names)}")
        if left:
            self.stdout.write(
                f"{len(left)} flight(s) under an older identifier: new imports of their files "
                "land on the flights named. Look at them in the admin (Catalog > Flights, "
                "search the identifier) and decide with their PI; stratoflow does not move "
                "reviewed or exported data by itself."
            )
        else:
            self.stdout.write("every flight is under the identifier its files name")
