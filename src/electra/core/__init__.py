"""The bottom layer: errors, atomic writes, file readers, the configuration mechanism, device and RNG.

Nothing here knows about models, objectives, data or training; every other layer may import it.
"""
