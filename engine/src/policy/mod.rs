//! OPA policies with regorus: compile, cache, build inputs from rendered manifests, evaluate,
//! run embedded tests.
