"""python -m edgekit.cli: the command line."""

from edgekit.cli import main

main()
