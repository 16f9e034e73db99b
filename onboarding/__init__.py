"""onboard: SSH key, pinned host keys, clones and Git tracking for Azure ML compute instances."""

from __future__ import annotations

__version__ = "0.1.0"
