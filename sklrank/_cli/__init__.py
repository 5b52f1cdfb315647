"""The ``sklrank`` command line: one sub-command a module, registered below."""

import argparse
import contextlib
import importlib
import os
import sys

# The most seeds --seeds takes (see seed_count_option), as the Python API's n_seeds and seeds,
# and the most epochs of --max-epochs / --epochs (epoch_count_option), as its max_epochs.
from sklrank._limits import MAX_EPOCHS, MAX_SEEDS

# sub-command name -> module defining ``add_parser(subparsers)`` and ``run(args) -> int``
_SUBCOMMANDS = {
    "sweep": "sklrank._cli.sweep",
    "gradients": "sklrank._cli.gradients",
}

# Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""


def command_line():
    """The command as typed, for the JSON record: ``sklrank ...`` when run as ``sklrank`` or
    ``python -m sklrank``, quoted so that it runs again as it is (an argument with a space,
    ``--out "my results"``, was recorded as two); None when called otherwise."""
    import shlex
    from pathlib import Path

    if sys.argv and Path(sys.argv[0]).name in ("sklrank", "__main__.py"):
        return shlex.join(["sklrank", *sys.argv[1:]])
    return None


def output_folder(text):
    """The argparse type of ``--out``: a folder name, not empty.

    An empty ``--out`` (an unset shell variable, ``--out "$DIR"``) wrote the results into the
    current folder without a word.
    """
    if not text:
        raise argparse.ArgumentTypeError(
            "is empty; name the output folder (--out . for the current folder)")
    return text


# The largest integer an option takes: torch's thread count and joblib's n_jobs are C ints,
# and sizes beyond it fit in no memory (10**20 ended in numpy's "Maximum allowed dimension
# exceeded", a C overflow or a traceback, none naming the option).
MAX_INT = 2**31 - 1
# The largest learning rate: the networks train in float32 (1e308 ended in torch's "value
# cannot be converted to type float without overflow").
MAX_LR = 3.4e38


# The most workers (--n-jobs) and threads (--threads, --threads-per-point): far more than the
# cores of a machine (2000000000 ended in loky's C overflow, a traceback, or in libgomp
# aborting the process: "Out of memory allocating 432000001344 bytes").
MAX_WORKERS = 1024


def at_most(value, text, high=MAX_INT, what="2**31 - 1"):
    """``value`` (parsed from ``text``) if it is at most ``high``, else the argparse error."""
    if value > high:
        raise argparse.ArgumentTypeError(f"must be at most {what}, got {text}")
    return value


def n_jobs_option(text):
    """The argparse type of ``--n-jobs``: joblib's convention, a non-zero integer (N workers;
    -1 every core, -2 all but one, ...), for both commands (``gradients`` refused -2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value == 0:
        raise argparse.ArgumentTypeError(
            "must be a non-zero integer: N workers, or -1 for every core, -2 for all but one "
            "(joblib's convention), got 0")
    if abs(value) > MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"must be between -{MAX_WORKERS} and {MAX_WORKERS} (N workers, -1 every core), got "
            f"{text}")
    return value


def int_option(low=1, high=MAX_INT, most=None):
    """The argparse type of an integer option in ``low..high``; ``most`` says the upper
    bound in the message (default: ``high`` itself)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text}")
        if most is None:
            return at_most(value, text, high, "2**31 - 1" if high == MAX_INT else str(high))
        return at_most(value, text, high, most)

    return parse


# --threads / --threads-per-point
thread_count_option = int_option(
    1, MAX_WORKERS, f"{MAX_WORKERS} (more threads than cores only slow the work down)")
# --seeds COUNT, the seeds 0..COUNT-1 (2000000000 seeds: the list of fits filled the memory
# until the process was killed, before the first fit)
seed_count_option = int_option(
    1, MAX_SEEDS, f"{MAX_SEEDS} (every fit of every seed is listed before the first one runs, "
    f"and {MAX_SEEDS} seeds a setting is far more than a mean over seeds needs)")
# --max-epochs (sweep) and --epochs (gradients), as the Python API's max_epochs
epoch_count_option = int_option(
    1, MAX_EPOCHS, f"{MAX_EPOCHS} (a thousand times the longest default; at the 5 to 50 ms an "
    "epoch measured for the default sizes on one thread, that is 1.4 to 14 hours a fit)")


def one_line(exc, options=None, list_sep=" ", advice=()):
    """An exception's message (and notes) on one line.

    Parameters
    ----------
    exc : BaseException
        The exception; one without a message (a bare ``MemoryError``) is named by its type.
    options : dict or None, default=None
        ``{library parameter: command-line option}`` of the command that caught ``exc``,
        where the library's message names its Python parameters: see :func:`as_options`.
        The notes (which fit failed, as its CSV columns name it) are left as they are.
    list_sep : str, default=" "
        How the option takes several values: " " (``--noise 0 1``) or "," (``--nu 0.1,0.2``).
    advice : sequence of (str, str), default=()
        The library's Python-only advice and the command's version of it: see
        :func:`as_options`.

    Returns
    -------
    line : str
    """
    message = str(exc) or _NO_MESSAGE.get(type(exc), type(exc).__name__)
    if options:
        message = as_options(message, options, list_sep, advice)
    notes = getattr(exc, "__notes__", None) or []
    return " ".join(" ".join([message, *(f"({n})" for n in notes)]).split())


_NO_MESSAGE = {MemoryError: "out of memory (MemoryError): use smaller sizes"}

# A value after ``name=`` in a library message: a quoted string, a list, a tuple, or a
# number / word (without the full stop that may end the sentence).
_VALUE = r"""'[^']*'|"[^"]*"|\[[^\]]*\]|\([^)]*\)|[^\s,;)\]]+?(?=\.?(?:[\s,;)\]]|$))"""
# the verbs of a library message's fix: "lower lr", "raise n_samples", "pass a larger noise_std"
_VERBS = r"(?:[Ll]ower|[Rr]aise|[Pp]ass|[Uu]se|[Dd]rop|[Ii]ncrease|[Dd]ecrease)"


def as_options(message, options, list_sep=" ", advice=()):
    """A library message with its parameter names turned into command-line options.

    ``name=value`` becomes ``--option value`` (a string unquoted, a list as the option
    takes it), and a parameter name that opens the message or follows the verb of a fix
    ("lower rank or raise n_features", "pass a larger noise_std") becomes the option. Other
    mentions (in a formula such as ``min(n_samples, n_features)``, or a plain English word
    such as "rank") are left as they are.

    Parameters
    ----------
    message : str
    options : dict
        ``{parameter: option}``, or ``{parameter: (option, format)}`` where ``format`` turns
        the parameter's Python value into the option's text (``(2, 2)`` -> ``2x2``).
    list_sep : str, default=" "
        The separator of a list of values on the command line.
    advice : sequence of (str, str), default=()
        ``(text, replacement)``: advice that only a Python caller can follow ("scale X (e.g.
        pixels / 255, or StandardScaler)", "or pass other seeds") and what the command's user
        can do instead, in the library's parameter names (which become options), or "".
        Replaced before the parameter names.

    Returns
    -------
    message : str
    """
    import ast
    import re
    import shlex

    for text, replacement in advice:
        message = message.replace(text, replacement)

    flags = {name: (o if isinstance(o, tuple) else (o, None)) for name, o in options.items()}
    names = "|".join(re.escape(n) for n in sorted(flags, key=len, reverse=True))
    name = rf"(?<![\w.\-'\"])(?:{names})(?![\w\-'\"(])"

    def text(value):
        if isinstance(value, str):
            return shlex.quote(value)
        if isinstance(value, (list, tuple)):
            return list_sep.join(text(v) for v in value)
        return "..." if value is Ellipsis else repr(value)

    def assignment(match):
        flag, fmt = flags[match[1]]
        raw = match[2]
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return f"{flag} {raw}"
        if fmt is not None:
            return f"{flag} {fmt(value)}"
        return f"{flag} {raw if isinstance(value, (int, float)) else text(value)}"

    def bare(match):
        # (not inside a remark: "use a smaller nu (the paper's regimes are nu < 1/2)")
        parts = re.split(r"(\([^()]*\))", match[0])
        return "".join(part if part.startswith("(") else
                       re.sub(name, lambda m: flags[m[0]][0], part) for part in parts)

    message = re.sub(rf"(?<![\w.\-'\"])({names})=({_VALUE})", assignment, message)
    message = re.sub(rf"^{name}(?=\s)", bare, message)
    # a fix: "lower rank or raise n_features", "raise lr or max_epochs", also with a remark
    # after a name ("raise lr (about 3.2 is stable) or max_epochs" left max_epochs)
    named = rf"{name}(?: \([^()]*\))?"
    message = re.sub(
        rf"\b{_VERBS}\s+(?:a (?:smaller|larger) )?{named}(?:(?:,| or| and) {named})*", bare,
        message,
    )
    return message


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
