"""Real PyTorch models for the `initlint probe` tests (imported only by the probe's child)."""
