#!/usr/bin/env bash
# Regenerate the Python modules of the Open Inference gRPC service from
# src/modelward/serving/v2/grpc_gen/inference.proto (needs grpcio-tools: the dev extra).
# The generated modules are committed; runtime needs only grpcio and protobuf.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
"$PYTHON" -m grpc_tools.protoc -I src \
  --python_out=src --pyi_out=src --grpc_python_out=src \
  src/modelward/serving/v2/grpc_gen/inference.proto
