//! Git delivery.
