"""Commands: plain functions (Settings, Console) -> exit code, composing the step modules."""
