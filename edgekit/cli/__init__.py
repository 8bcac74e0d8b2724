"""The command line: parses options and calls edgekit.api. Errors become one line and exit code 2."""

from __future__ import annotations

import signal
import sys

import click

from edgekit import __version__
from edgekit.cli import bundle, export, measure
from edgekit.errors import EdgekitError


class EdgekitGroup(click.Group):
    """Turns every expected failure into `edgekit: error: ...` on one line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # kill: clean up temp dirs too
        try:
            result = super().main(args, prog_name or "edgekit", complete_var, standalone_mode=False, **extra)
        except EdgekitError as exc:
            click.echo(f"edgekit: error: {exc}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"edgekit: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except (KeyboardInterrupt, click.exceptions.Abort):
            click.echo("edgekit: interrupted; no artefact was written", err=True)
            sys.exit(130)
        finally:
            signal.signal(signal.SIGTERM, previous)
        if standalone_mode:
            sys.exit(result if isinstance(result, int) else 0)
        return result


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@click.group(cls=EdgekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="edgekit", message="%(prog)s %(version)s")
def cli() -> None:
    """Export, optimise, validate and measure DistilRoBERTa-family models for edge devices."""


for _module in (export, measure, bundle):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    cli.main()


if __name__ == "__main__":
    main()
