"""Rendering: numbers in, text and images out. Nothing here measures or judges.

``text`` holds the table primitive; ``parity`` / ``bench`` / ``plot`` render their results.
The CLI composes these; library code never prints.
"""
