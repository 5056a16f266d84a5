#![deny(dead_code)]

use audit_layer::audited;

#[audited(event = "never.used")]
fn never_used() {}

#[audited(event = "never.used_async")]
async fn never_used_async() {}

fn main() {}
