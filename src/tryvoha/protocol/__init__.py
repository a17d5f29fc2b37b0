"""Codecs between domain values and wire formats. No I/O."""
