"""The HTTP side of caseclock: errors as problems, the request gate, sign-in and metrics."""
