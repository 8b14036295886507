"""Time: the working-day calendar of each UK nation and the injectable clock.

Every statutory date is computed here; nothing else does date arithmetic.
"""
