"""The terminal: one stderr console for messages and progress bars, honouring --quiet/--verbose."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")

console = Console(stderr=True, highlight=False)  # messages, warnings, progress
# Result tables go to stdout so they can be redirected; redirected, they are not wrapped at 80 columns.
results = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
_settings = {"quiet": False, "verbose": False}


def configure(quiet: bool | None = None, verbose: bool | None = None) -> None:
    """Set the verbosity for the rest of the process (what is None stays as it is)."""
    if quiet is not None:
        _settings["quiet"] = quiet
    if verbose is not None:
        _settings["verbose"] = verbose


def progress_visible() -> bool:
    """True when progress bars are shown (stderr is a terminal and --quiet was not given)."""
    return not _settings["quiet"] and console.is_terminal


def info(message: str) -> None:
    """A progress message, hidden by --quiet."""
    if not _settings["quiet"]:
        console.print(message)


def debug(message: str) -> None:
    """A detail shown only with --verbose."""
    if _settings["verbose"]:
        console.print(f"[dim]{message}[/dim]")


@contextmanager
def step(name: str, timings: dict[str, float]) -> Iterator[None]:
    """Show a spinner for a processing step and record its duration (s) in `timings[name]`."""
    start = time.perf_counter()
    show = not _settings["quiet"] and console.is_terminal
    with console.status(f"{name}...") if show else nullcontext():
        yield
    timings[name] = round(time.perf_counter() - start, 3)
    debug(f"{name}: {timings[name]:.2f} s")


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar on stderr (hidden by --quiet or when stderr is not a terminal)."""
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, disable=not progress_visible(), transient=True)
    with progress:
        yield from progress.track(items, total=total, description=description)
