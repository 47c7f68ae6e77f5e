"""`python -m expand`."""

from expand.cli import main

main()
