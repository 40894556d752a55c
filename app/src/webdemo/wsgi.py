"""WSGI entry point: ``gunicorn -c python:webdemo.gunicorn_conf webdemo.wsgi:app``."""

import os

from .app import create_app
from .settings import Settings

app = create_app(Settings.from_env(os.environ))
