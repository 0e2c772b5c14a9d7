# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The ``mcc-hf`` command line.

Each subcommand lives in its own module with ``register(subparsers)``, which adds a parser whose
``func`` default runs the command. Heavy imports happen inside the command, so ``mcc-hf --help``
is fast. Errors meant for the user are printed as one line with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

__all__ = ["HelpFormatter", "main"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default after its help, unless the help already states it, there is none,
    or the option is a flag."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "(default" in text or action.default is None or action.required or action.nargs == 0:
            return text
        return super()._get_help_string(action)

COMMAND_MODULES = (
    "mcc_hf.cli.convert",
    "mcc_hf.cli.evaluate",
    "mcc_hf.cli.animate",
    "mcc_hf.cli.live",
    "mcc_hf.cli.demo",
    "mcc_hf.cli.animate_batch",
    "mcc_hf.cli.export_onnx",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcc-hf",
        description="One-shot talking-head video generation with multi-scale compensatory codebooks (MCC).",
    )
    parser.add_argument("-v", "--verbose", "--debug", dest="verbose", action="store_true",
                        help="show full tracebacks and debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    from ..errors import InvalidOptionError, UserInputError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (UserInputError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError) as e:
        if args.verbose:
            raise
        message = e.for_command_line() if isinstance(e, InvalidOptionError) else str(e)
        print(f"mcc-hf {args.command}: error: {message}", file=sys.stderr)
        return 2
    except Exception as e:
        if args.verbose:
            raise
        print(f"mcc-hf {args.command}: internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
              "(run again with --verbose for the traceback, and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
