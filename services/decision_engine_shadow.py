"""The shadow decision engine: a candidate config's SHADOW_DECISION per SIGNAL (off by default)."""

from hope.decision.shadow import ShadowDecisionService
from hope.service import run_service

if __name__ == "__main__":
    run_service(ShadowDecisionService)
