"""Frozen entry point of the desktop build: the same main() as `l2r-desktop`.

`l2r-inspector --cli ARGS...` runs the `l2r` command line instead. A frozen app has no
`python -m`, so the fine-tune wizard starts its training process this way.
"""
import sys

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--cli":
        from l2r_training.cli import main as cli_main

        sys.exit(cli_main(sys.argv[2:]))
    from l2r_desktop.app import main

    sys.exit(main())
