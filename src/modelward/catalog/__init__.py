"""modelward.catalog."""
