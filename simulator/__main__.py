"""``python -m simulator``: the same command as ``cms simulate``."""

from .cli import simulate

if __name__ == "__main__":  # pragma: no cover
    simulate(prog_name="python -m simulator")
