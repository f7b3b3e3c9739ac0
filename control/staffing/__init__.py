"""Staffing: the forecast of calls and agents needed, and the wallboard's alerts."""
