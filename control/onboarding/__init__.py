"""A first call within minutes: the demo a new install gets, and the built-in test caller."""
