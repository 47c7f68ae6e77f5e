"""Offline, reproducible image-dataset expansion with ImageDataGenerator's parameters."""

__version__ = "0.1.0"
