"""`python -m train`: the same as the `train` command."""

from train.cli import main

main()
