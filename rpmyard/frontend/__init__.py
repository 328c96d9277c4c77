"""The frontend: Copr API v3, the worker API, result listings and pages (FastAPI)."""
