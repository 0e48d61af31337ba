"""``ndrtrack serve`` (the daemon) and ``ndrtrack check-config`` (the same checks, no start)."""

from __future__ import annotations

import argparse

from ndrtrack.cli import add_config_option
from ndrtrack.config import load_config


def _serve(args: argparse.Namespace) -> int:
    from ndrtrack.app import serve  # the daemon's imports are not needed by check-config

    return serve(load_config(args.config))


def _check_config(args: argparse.Namespace) -> int:
    from ndrtrack.app import preflight

    # ConfigError → FILE: key.path: reason lines, exit 2 (cli.main)
    preflight(load_config(args.config))
    print(f"{args.config}: OK")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve", help="run the daemon (SMTP/LMTP intake, runner, HTTP) in the foreground",
        description="Run the daemon until SIGTERM/SIGINT; SIGHUP reloads the configuration.")
    add_config_option(serve)
    serve.set_defaults(func=_serve)
    check = subparsers.add_parser(
        "check-config", help="check a configuration file and exit",
        description="Run every configuration check serve runs; print OK or one "
                    "'FILE: key.path: reason' line per problem (exit 2).")
    add_config_option(check)
    check.set_defaults(func=_check_config)
