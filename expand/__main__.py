"""`python -m expand`."""

from expand.launch import main

main()
