"""``python -m mlsec_dagster`` is the ``mlsec`` command."""

import sys

from mlsec_dagster.cli import main

if __name__ == "__main__":
    sys.exit(main())
