"""Shared fixtures: the fake daemon lives beside the client tests."""

import importlib.util
import pathlib
import sys

_HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location(
    "fakedaemon", _HERE.parent / "client" / "fakedaemon.py")
fakedaemon = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("fakedaemon", fakedaemon)
_spec.loader.exec_module(fakedaemon)
