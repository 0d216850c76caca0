"""Field intake, anonymizing workers and verification queues for civilian-harm reports."""

from .app import create_app

__all__ = ["create_app"]
