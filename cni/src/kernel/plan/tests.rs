//! The ADD request in nsplumb terms.
