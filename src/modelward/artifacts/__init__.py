"""modelward.artifacts."""
