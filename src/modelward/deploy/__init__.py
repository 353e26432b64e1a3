"""modelward.deploy."""
