"""Vigie: early warning for rental evictions in Paris."""
__version__ = "0.1.0"
