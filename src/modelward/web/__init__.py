"""modelward.web."""
