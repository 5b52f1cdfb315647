"""The ``sklrank`` command line: one sub-command a module, registered below."""

import argparse
import contextlib
import importlib
import os
import sys

# sub-command name -> module defining ``add_parser(subparsers)`` and ``run(args) -> int``
_SUBCOMMANDS = {
    "sweep": "sklrank._cli.sweep",
    "gradients": "sklrank._cli.gradients",
}

# Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""


def one_line(exc):
    """An exception's message (and notes) on one line."""
    notes = getattr(exc, "__notes__", None) or []
    return " ".join(" ".join([str(exc), *(f"({n})" for n in notes)]).split())


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sklrank",
        description="Study the rank of neural networks under noise (scikit-learn compatible).",
    )
    from sklrank import __version__

    parser.add_argument("--version", action="version", version=f"sklrank {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in _SUBCOMMANDS.values():
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv=None):
    """Entry point of the ``sklrank`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    out = getattr(args, "out", None)
    # the commands create --out early, to check that it can be written before any work
    created = out is not None and not os.path.exists(out)
    try:
        status = args.run(args)
        sys.stdout.flush()  # a reader that went away shows here at the latest
    except CLIError as exc:
        print(f"sklrank {args.command}: error: {exc}", file=sys.stderr)
        status = 2
    except BrokenPipeError:
        # stdout's reader left early (`sklrank sweep | head -1`); the files are written by
        # then. Point stdout at devnull so the interpreter's flush at exit does not raise
        # again, as Python's documentation of SIGPIPE advises.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    if created and status != 0:
        _remove_if_empty(out)  # an error or Ctrl-C later leaves no empty folder behind
    return status


def _remove_if_empty(folder):
    with contextlib.suppress(OSError):
        os.rmdir(folder)  # only succeeds on an empty folder


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
