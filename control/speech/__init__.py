"""Offline speech: live transcripts per call leg, alerts, agent assist, after-call analysis."""
