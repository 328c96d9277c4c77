"""Packaging entry point: the metadata lives in pyproject.toml; this file lets `pip install .`
and `python setup.py` users find the three packages (codec, qmf, func_amqp)."""

from setuptools import setup

setup()
