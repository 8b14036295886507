"""Changing a procedure safely: scenario files that prove its dates, the difference between two
versions, and moving running cases from one version to another."""
