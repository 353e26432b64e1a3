package insurance_charges_model_test

import rego.v1

import data.insurance_charges_model

test_old_smoker_denied if {
    not insurance_charges_model.allow with input as {"model_input": {"smoker": true, "age": 62}}
}

test_young_smoker_allowed if {
    insurance_charges_model.allow with input as {"model_input": {"smoker": true, "age": 42}}
}
