"""The decision engine (Eye of God): one fail-closed DECISION per SIGNAL."""

from hope.decision.service import setup
from hope.runtime import run_service

if __name__ == "__main__":
    run_service("decision-engine", setup)
