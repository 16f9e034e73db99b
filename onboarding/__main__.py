"""`python -m onboarding` and the `onboard` console script."""

from __future__ import annotations

import sys


def main() -> int:
    args = sys.argv[1:]
    if args == ["--version"]:  # answered before argparse and the package load: scripts ask this often
        from onboarding import __version__

        print(f"onboard {__version__}")
        return 0
    from onboarding.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
