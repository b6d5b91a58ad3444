"""Site load management: sharing one grid connection among the charging sessions behind it.

``allocation`` is the rule (pure, no I/O): who gets how many amperes. Applying it (charging profiles through the
dispatcher, re-allocation on events, storage) lives elsewhere and calls it.
"""
