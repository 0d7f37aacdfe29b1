"""Frozen entry point of the desktop build: the same main() as `l2r-desktop`."""
import sys

from l2r_desktop.app import main

if __name__ == "__main__":
    sys.exit(main())
