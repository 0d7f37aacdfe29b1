"""``python -m l2r_desktop``: same as the ``l2r-desktop`` command."""
from .app import main

raise SystemExit(main())
