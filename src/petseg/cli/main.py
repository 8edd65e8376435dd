"""Entry point of the `petseg` console script: error conventions of the CLI contract.

Exit 0 on success, 2 on a user error (one line on stderr, no traceback), 1 on an internal error.
"""

from __future__ import annotations

import sys
import warnings

from rich.text import Text

from petseg.cli import (  # noqa: F401  (commands register on the app)
    challenge_cmd,
    convert_cmd,
    datalist_cmd,
    demo_cmd,
    evaluate_cmd,
    phantom_cmd,
    predict_cmd,
    quantify_cmd,
    segment_cmd,
    train_cmd,
)
from petseg.cli.app import app, hoist_global_flags
from petseg.cli.common import join_fold_values
from petseg.console import console
from petseg.errors import PetsegError
from petseg.io.atomic import write_fault


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    console.print(Text.assemble(("warning:", "yellow"), f" {message}"), soft_wrap=True)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with `argv` and return the exit status (used by `main` and by the tests)."""
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        args = hoist_global_flags(join_fold_values(sys.argv[1:] if argv is None else argv))
        app(args=args, prog_name="petseg")  # standalone: handles --help and usage errors, then exits
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except PetsegError as exc:
        return _user_error(str(exc))
    except OSError as exc:  # a disk or folder fault outside the atomic writers (a folder made, a file moved)
        fault = write_fault(exc, exc.filename or "a file")
        if fault is None:
            raise
        return _user_error(str(fault))
    finally:
        warnings.showwarning = previous


def _user_error(message: str) -> int:
    """One line on stderr; exit status 2."""
    console.print(Text.assemble(("error:", "red"), f" {message}"), soft_wrap=True)
    return 2


def main() -> None:
    """Console-script entry point."""
    sys.exit(run(sys.argv[1:]))
