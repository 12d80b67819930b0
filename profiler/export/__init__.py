"""Exporters: the event model and analysis tables written as files other tools read."""
