"""Codebooks and the multi-scale motion and appearance compensation of the generator."""
