"""Config as data: trunks, DIDs and endpoints rendered into Asterisk and Kamailio."""
