"""Synthetic drive logs with exact ground truth."""
