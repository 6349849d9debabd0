"""The decision engine (Eye of God): one fail-closed DECISION per SIGNAL."""

from hope.runtime import run_service
from hope.decision.service import setup

if __name__ == "__main__":
    run_service("decision-engine", setup)
