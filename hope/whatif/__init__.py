"""What-if replay (``hope replay``): recorded signals re-decided under a candidate config."""
