"""Health: heartbeat registry, hung/down detection with supervisord restarts, HTTP and metrics."""
