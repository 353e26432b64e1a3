"""modelward.services."""
