"""modelward.policy."""
