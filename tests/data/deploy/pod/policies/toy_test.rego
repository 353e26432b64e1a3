package toy_test

import rego.v1

import data.toy

test_positive_x_is_allowed if toy.allow with input as {"model_input": {"x": 1}}

test_negative_x_is_denied if not toy.allow with input as {"model_input": {"x": -1}}
