"""The bounds of every wait in the real-time tier."""

WAIT = 5.0  # the bound of every wait in this tier, in seconds
QUIET = 0.3  # how long "nothing more arrives" is watched, when no later event can prove it
