"""The one event bus of the control plane."""
