"""The decision engine (Eye of God): one fail-closed DECISION per SIGNAL."""

from hope.decision.service import DecisionService
from hope.service import run_service

if __name__ == "__main__":
    run_service(DecisionService)
