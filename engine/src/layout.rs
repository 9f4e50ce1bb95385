//! GitOps repository layout.
