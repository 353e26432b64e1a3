"""modelward.graph."""
