"""Controller-side tools of webdemo (installed into .venv by scripts/setup.sh as an editable package)."""
