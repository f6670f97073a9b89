"""``stratoflow serve`` and ``stratoflow manage``: the web UI and Django's management commands."""

from __future__ import annotations

import argparse

from stratoflow.server import setup


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0-65535, checked here so a typo is a usage error
    (exit status 2), not a traceback from deep inside the server's bind()."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-commands to the CLI."""
    p = sub.add_parser("serve", help="serve the web UI on 127.0.0.1 (admin at /admin/)")
    p.add_argument("--port", type=port_number, default=8000, help="port (8000)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.set_defaults(func=serve)
    m = sub.add_parser(
        "manage",
        help="run a Django management command (migrate, createsuperuser, ...)",
        add_help=False,
    )
    # `manage migrate --help` reaches Django through the remainder, but argparse leaves an
    # option in front of it (`manage --help`) unparsed and refuses it: taken here, it asks
    # Django's own help (the list of management commands, or one command's options).
    m.add_argument("-h", "--help", action="store_true", dest="django_help")
    m.add_argument("arguments", nargs=argparse.REMAINDER)
    m.set_defaults(func=manage)


def serve(args: argparse.Namespace) -> int:
    """Apply migrations, then run Django's threaded server (no auto-reload)."""
    setup(migrate=True)
    from django.core.management import call_command

    print(f"stratoflow web UI: http://{args.host}:{args.port}/  (admin: /admin/)", flush=True)
    call_command("runserver", f"{args.host}:{args.port}", use_reloader=False, insecure_serving=True)
    return 0


#: Management commands that need the tables and are the first a new site runs (the README's
#: "a login for the web UI"): on a fresh home they apply pending migrations first, as every
#: stratoflow command that uses the database does, instead of failing with "no such table".
#: Not all: ``migrate``, ``showmigrations``, ``sqlmigrate``... must see the schema as it is.
NEED_TABLES = frozenset({"createsuperuser", "changepassword"})


def manage(args: argparse.Namespace) -> int:
    """Pass the arguments to Django's management utility."""
    arguments = ["help", *args.arguments] if args.django_help else list(args.arguments)
    setup(migrate=bool(arguments) and arguments[0] in NEED_TABLES)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["stratoflow manage", *arguments])
    return 0
