"""The operator's dashboard: a live view of the market and of what HOPE did, in a browser."""
