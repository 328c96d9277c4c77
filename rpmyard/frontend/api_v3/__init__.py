"""Copr API v3 (`/api_3/...`), as the real copr-cli and python-copr call it."""
