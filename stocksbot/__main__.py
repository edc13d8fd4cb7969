"""`python -m stocksbot` runs the same program as the `stocksbot` command."""

from stocksbot.cli.main import main

main()
