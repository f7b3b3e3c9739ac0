"""IVR flows: defined as data (dialplans/ivr/*.yaml), rendered into the dialplan."""
