//! Runnable examples of the audit-log workspace; see `quickstart.rs`
//! (`cargo run -p audit-examples --example quickstart`).
