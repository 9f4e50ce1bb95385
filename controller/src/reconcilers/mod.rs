//! One reconciler per kind.

pub mod break_glass;
pub mod chart;
pub mod cluster;
pub mod environment;
pub mod policy;
pub mod project;
pub mod promotion;
pub mod release;

#[cfg(test)]
mod tests;
