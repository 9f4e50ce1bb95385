//! Admission decisions: identity stamping, approvals, freezes, break-glass, immutability.
