"""``stratoflow serve`` and ``stratoflow manage``: the web UI and Django's management commands."""

from __future__ import annotations

import argparse

from stratoflow.server import setup


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-commands to the CLI."""
    p = sub.add_parser("serve", help="serve the web UI on 127.0.0.1 (admin at /admin/)")
    p.add_argument("--port", type=int, default=8000, help="port (8000)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.set_defaults(func=serve)
    m = sub.add_parser(
        "manage",
        help="run a Django management command (migrate, createsuperuser, ...)",
        add_help=False,
    )
    m.add_argument("arguments", nargs=argparse.REMAINDER)
    m.set_defaults(func=manage)


def serve(args: argparse.Namespace) -> int:
    """Apply migrations, then run Django's threaded server (no auto-reload)."""
    setup(migrate=True)
    from django.core.management import call_command

    print(f"stratoflow web UI: http://{args.host}:{args.port}/  (admin: /admin/)", flush=True)
    call_command("runserver", f"{args.host}:{args.port}", use_reloader=False, insecure_serving=True)
    return 0


def manage(args: argparse.Namespace) -> int:
    """Pass the arguments to Django's management utility."""
    setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["stratoflow manage", *args.arguments])
    return 0
