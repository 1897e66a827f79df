"""`python -m edgekd …` — the same CLI as the `edgekd` script (used by torchrun)."""

from edgekd.cli import main

if __name__ == "__main__":
    main()
