"""``python -m nnconvert``: the same command line as the ``nnconvert`` script."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="nnconvert")
