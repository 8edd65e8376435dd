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
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and results (also after the command)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More detail (also after the command)."),
) -> None:
    """Find and measure cancer lesions in whole-body PET/CT."""
    configure(quiet=quiet, verbose=verbose)


GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def hoist_global_flags(argv: list[str]) -> list[str]:
    """`argv` with -q/--quiet/-v/--verbose given after the command's name moved before it, where the app reads
    them (a token that is the value of an option stays where it is)."""
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    name = next((i for i, arg in enumerate(argv) if not arg.startswith("-")), None)
    if name is None or argv[name] not in commands:
        return list(argv)
    takes_value = {opt for param in commands[argv[name]].params if param.param_type_name == "option"
                   and not param.is_flag and not param.count for opt in param.opts}
    tokens, rest, hoisted, i = argv[name + 1:], [], [], 0
    while i < len(tokens):
        if tokens[i] == "--":
            rest += tokens[i:]
            break
        if tokens[i] in GLOBAL_FLAGS:
            hoisted.append(tokens[i])
        else:
            rest.append(tokens[i])
            if tokens[i] in takes_value and i + 1 < len(tokens):
                i += 1
                rest.append(tokens[i])
        i += 1
    return [*argv[:name], *hoisted, argv[name], *rest]
