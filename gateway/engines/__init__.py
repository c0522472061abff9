"""Engines behind one protocol (base.py), found through registry.py."""
