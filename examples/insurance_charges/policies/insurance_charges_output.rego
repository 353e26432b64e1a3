package insurance_charges_output

import rego.v1

# Predictions above this amount are not returned: they are sent for review instead.
charges_limit := 50000

charges_above_limit if input.model_output.charges > charges_limit

default allow := false

allow if not charges_above_limit

messages contains msg if {
	charges_above_limit
	msg := sprintf("Predicted charges of %v are above the limit of %v.", [input.model_output.charges, charges_limit])
}
