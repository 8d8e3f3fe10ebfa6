//! Properties the fuzz targets assert (SPEC R3): not only "does not crash", but what must hold
//! of every answer nsplumb gives to input from outside.
//!
//! * [`spec_rules`]: the SPEC V1–V8 field rules restated from the SPEC text, as oracles.
//! * [`spec_check`]: validate a [`nsplumb_core::Spec`] and check the verdict against the oracles,
//!   field by field, and the accepted values against their documented ranges.

pub mod spec_check;
pub mod spec_rules;
