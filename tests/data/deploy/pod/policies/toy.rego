package toy

import rego.v1

default allow := false

allow if input.model_input.x >= 0

messages contains "x may not be negative" if input.model_input.x < 0
