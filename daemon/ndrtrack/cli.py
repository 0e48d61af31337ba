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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ndrtrack",
        description="Track missing email: NDRs, mail logs, DNS evidence, tracking reports.",
    )
    parser.add_argument("--version", action="version", version=f"ndrtrack {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # an area not built yet adds no commands
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
