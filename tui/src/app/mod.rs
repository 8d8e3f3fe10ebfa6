//! The terminal UI: an Elm-like pure `update`, a pure `view`, and an effect runner.

pub mod bench;
pub mod form;
pub mod model;
pub mod run;
pub mod update;
pub mod view;

pub use model::{Effect, Model, Msg};
pub use update::update;
pub use view::view;
