"""The ``ndrtrack`` command: one sub-command tree, assembled from the areas' own ``cli`` modules.

Each area (intake, store, parse, logs, dns, …) owns a ``cli.py`` with
``register(subparsers) -> None``: it adds its sub-commands and sets ``func`` on each parser
to a callable ``(args) -> int``.  This module only lists the areas (a registry instead of an
if-chain), parses the arguments and maps errors to exit codes:

- 0 success, 1 a failure the command reports (e.g. a file that cannot be read),
- 2 bad usage or a bad configuration (``FILE: key.path: reason`` on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ndrtrack import __version__
from ndrtrack.errors import ConfigError, NdrtrackError

#: Modules with a ``register(subparsers)`` function, in the order their commands are listed.
COMMAND_MODULES: tuple[str, ...] = (
    "ndrtrack.app_cli",
    "ndrtrack.store.cli",
    "ndrtrack.parse.cli",
    "ndrtrack.logs.cli",
    "ndrtrack.dns.cli",
)

#: Which module registers each top-level command.  A run of one command imports only that
#: area: the DNS and decoder modules alone take ~0.2 s to import, which a ``logs import`` or a
#: ``cases list`` in a cron job should not pay.  Help and unknown commands import them all.
COMMAND_OWNERS: dict[str, str] = {
    "serve": "ndrtrack.app_cli",
    "check-config": "ndrtrack.app_cli",
    "cases": "ndrtrack.store.cli",
    "parse": "ndrtrack.parse.cli",
    "explain": "ndrtrack.parse.cli",
    "logs": "ndrtrack.logs.cli",
    "dns": "ndrtrack.dns.cli",
}

DEFAULT_CONFIG = "config/ndrtrack.yaml"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Every sub-command takes ``-c/--config FILE``; this keeps its wording in one place."""
    parser.add_argument(
        "-c",
        "--config",
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"configuration file (default: {DEFAULT_CONFIG})",
    )


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command tree; with ``argv`` naming a known command, only its area's commands."""
    parser = argparse.ArgumentParser(
        prog="ndrtrack",
        description="Track missing email: NDRs, mail logs, DNS evidence, tracking reports.",
    )
    parser.add_argument("--version", action="version", version=f"ndrtrack {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _modules_for(argv):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # an area not built yet adds no commands
        module.register(subparsers)
    return parser


def _modules_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    """The one module owning the command ``argv`` starts with, else every module."""
    first = next((arg for arg in argv or () if not arg.startswith("-")), None)
    owner = COMMAND_OWNERS.get(first or "")
    return (owner,) if owner is not None else COMMAND_MODULES


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    except NdrtrackError as exc:
        print(f"ndrtrack: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
