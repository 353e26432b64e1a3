"""modelward.metrics."""
