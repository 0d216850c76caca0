"""The Celery side: app wiring and thin tasks over the domain in `intake`."""
