"""The WSGI entry point: `gunicorn intake.wsgi:app`."""

from . import create_app

app = create_app()
