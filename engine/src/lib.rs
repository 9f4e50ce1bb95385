//! The pure decision core of GitOpsHQ: no I/O, plain functions over plain data.
#![forbid(unsafe_code)]

// Render pipeline: values layering, HQ variables, Handlebars, manifest validation and diff.
// (modules owned by the render pipeline are declared below this line)

// GitOps repository layout: which files a release writes where.
pub mod layout;
