"""The runtime: a shared state machine per definition version, the engine that plans each
command as a Change on a snapshot (the store applies it in one transaction), and the views it returns.
"""
