"""The shadow decision engine: a candidate config's SHADOW_DECISION per SIGNAL (off by default)."""

from hope.decision.shadow import SERVICE, setup_shadow
from hope.runtime import run_service

if __name__ == "__main__":
    run_service(SERVICE, setup_shadow)
