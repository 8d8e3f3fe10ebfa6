//! The terminal UI: an Elm-like pure `update`, a pure `view`, and an effect runner.

pub mod bench;
pub mod run;
