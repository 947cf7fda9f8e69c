"""Exporters: model + example input -> file bytes. They write nothing; artifacts.py does."""
