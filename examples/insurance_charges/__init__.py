"""Example: the insurance charges model of the source articles, trained on generated data."""
