package insurance_charges_output

import rego.v1

prediction(charges) := {
	"model_qualified_name": "insurance_charges_model",
	"model_version": "0.1.0",
	"model_input": {"age": 42, "sex": "female", "bmi": 24.0, "children": 2, "smoker": false, "region": "northwest"},
	"model_output": {"charges": charges},
}

test_charges_above_limit_are_denied if {
	not allow with input as prediction(50000.01)
}

test_charges_at_limit_are_allowed if {
	allow with input as prediction(50000)
}

test_denial_names_the_limit if {
	messages == {"Predicted charges of 60000 are above the limit of 50000."} with input as prediction(60000)
}

test_input_check_without_output_is_allowed if {
	allow with input as {"model_input": {"age": 42}}
}
