"""Callbacks that observe training through the shared contracts only."""
