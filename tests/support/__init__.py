"""Helpers shared by the test suites (fixture SRPMs and the like)."""
