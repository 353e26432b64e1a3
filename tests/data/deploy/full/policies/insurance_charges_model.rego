package insurance_charges_model

import rego.v1

default allow := false

allow if count(deny) == 0

deny contains "Prediction cannot be made if customer is a smoker over the age of 60." if {
    input.model_input.smoker
    input.model_input.age > 60
}
