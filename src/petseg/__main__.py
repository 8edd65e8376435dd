"""`python -m petseg` (what `torchrun -m petseg` runs): the command line."""

from petseg.cli.main import main

main()
