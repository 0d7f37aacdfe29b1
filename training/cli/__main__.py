"""`python -m l2r_training.cli COMMAND ...`: the same as the `l2r` command."""
import sys

from . import main

sys.exit(main())
