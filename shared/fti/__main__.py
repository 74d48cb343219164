"""``python -m fti``: the same as the ``fti`` command (see `fti.cli`)."""

from fti.cli import main

# Guarded: `fti batch` starts worker processes that import the main module again.
if __name__ == "__main__":
    raise SystemExit(main())
