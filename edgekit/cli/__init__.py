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
        # Ctrl-C or kill: one KeyboardInterrupt, then further signals wait, so that the cleanup of temp dirs
        # the interrupt started is not itself interrupted.
        global _interrupted
        _interrupted = False
        previous = {sig: signal.signal(sig, _interrupt_once) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            try:
                result = super().main(args, prog_name or "edgekit", complete_var, standalone_mode=False, **extra)
            except Exception as exc:
                # The interrupt can land inside a library that wraps it (onnxruntime's import turns it into
                # ImportError): once interrupted, whatever follows is the interrupt.
                if _interrupted:
                    raise KeyboardInterrupt from exc
                raise
        except EdgekitError as exc:
            click.echo(f"edgekit: error: {exc}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"edgekit: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except (KeyboardInterrupt, click.exceptions.Abort):
            click.echo("edgekit: interrupted; no output was written", err=True)
            sys.exit(130)
        except OSError as exc:  # the disk filled up, a file vanished: a system error, said in one line
            where = f" ({exc.filename})" if exc.filename else ""
            click.echo(f"edgekit: error: {exc.strerror or exc}{where}; what was being written was removed", err=True)
            sys.exit(2)
        finally:
            # After an interrupt the process is exiting: further Ctrl-C stay ignored so the exit stays clean (130).
            for sig, handler in previous.items():
                if not _interrupted:
                    signal.signal(sig, handler)
        if standalone_mode:
            sys.exit(result if isinstance(result, int) else 0)
        return result


_interrupted = False


def _interrupt_once(signum, frame):
    # A second signal can land before SIG_IGN takes effect; its handler call must not raise again mid-cleanup.
    global _interrupted
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not _interrupted:
        _interrupted = True
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
