"""Clients of Asterisk: AMI (panoramisk) and ARI (aiohttp), both reconnecting."""
