package insurance_charges_model
import future.keywords

test_customer_is_a_smoker_over_60 if {
    customer_is_a_smoker_over_60 with input as {
        "model_input": {
            "age": 62,
            "sex": "female",
            "bmi": 24.0,
            "children": 2,
            "smoker": true,
            "region": "northwest"
        },
        "model_output": {
            "charges": 12345.0
        }
    }
}

customer(age, smoker) := {
    "model_qualified_name": "insurance_charges_model",
    "model_version": "0.1.0",
    "model_input": {"age": age, "sex": "female", "bmi": 24.0, "children": 2, "smoker": smoker, "region": "northwest"},
    "model_output": {"charges": 12345.0}
}

test_smoker_aged_61_is_denied if {
    allow == false with input as customer(61, true)
}

test_smoker_aged_60_is_allowed if {
    allow == true with input as customer(60, true)
}

test_non_smoker_aged_62_is_allowed if {
    allow == true with input as customer(62, false)
}

test_smoker_aged_45_is_allowed if {
    allow == true with input as customer(45, true)
}

test_denial_explains_itself if {
    messages == {"Prediction cannot be made if customer is a smoker over the age of 60."} with input as customer(62, true)
}

test_allowed_prediction_has_no_messages if {
    count(messages) == 0 with input as customer(42, false)
}

test_missing_smoker_field_is_allowed if {
    allow == true with input as {"model_input": {"age": 62}}
}

test_missing_age_field_is_allowed if {
    allow == true with input as {"model_input": {"smoker": true}}
}

test_missing_model_input_is_allowed if {
    allow == true with input as {}
}

# Rego orders every string after every number: "70" > 60 holds, and so does "50" > 60.
# The service's input schema refuses such requests (422) before the policy runs.
test_string_age_counts_as_over_60 if {
    allow == false with input as customer("70", true)
    allow == false with input as customer("50", true)
}

# Any defined value other than false is true in a rule body, even the string "false".
test_string_smoker_is_truthy if {
    allow == false with input as customer(62, "false")
}
