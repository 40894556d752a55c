"""webdemo: a small JSON API (health, OS facts, Prometheus metrics) served by gunicorn."""

__version__ = "0.1.0"
