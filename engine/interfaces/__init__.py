"""The ways in: the command line, the REST API and the demo. Each is a thin layer over the
engine; none holds business rules of its own.
"""
