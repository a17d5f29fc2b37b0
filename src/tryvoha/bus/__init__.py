"""Carries committed events to every process that serves streams."""
