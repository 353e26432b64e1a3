"""modelward.serving."""
