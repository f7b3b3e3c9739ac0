"""Outbound campaigns: lists, do-not-call, dialing (preview, progressive, predictive)."""
