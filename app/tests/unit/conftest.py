import pytest

from webdemo.app import create_app
from webdemo.settings import Settings


@pytest.fixture
def make_app():
    def _make(**env: str):
        return create_app(Settings.from_env(env))

    return _make


@pytest.fixture
def app(make_app):
    return make_app()
