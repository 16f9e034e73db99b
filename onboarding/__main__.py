from __future__ import annotations

from onboarding.cli import main

raise SystemExit(main())
