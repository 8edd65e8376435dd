"""The typer application and the global options shared by every command."""

from __future__ import annotations

import typer

from petseg import __version__
from petseg.console import configure

app = typer.Typer(
    name="petseg",
    help="Find and measure cancer lesions in whole-body PET/CT.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"petseg {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and results."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More detail."),
) -> None:
    """Find and measure cancer lesions in whole-body PET/CT."""
    configure(quiet=quiet, verbose=verbose)
