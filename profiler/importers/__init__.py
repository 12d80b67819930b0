"""Readers of framework profiler output (MXNet Chrome JSON, TensorFlow XSpace ...) into the event model.

Importers never import a framework: recorded profiles are analysed anywhere.
"""
