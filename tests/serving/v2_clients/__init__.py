"""Client scripts run with tests/.envs/peers/bin/python (clients others wrote; no modelward imports)."""
