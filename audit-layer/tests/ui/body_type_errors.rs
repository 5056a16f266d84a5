#![allow(unreachable_code)]

use audit_layer::audited;

#[audited(event = "a.unit")]
fn unit() {
    ""
}

#[audited(event = "a.mismatch")]
fn simple_mismatch() -> String {
    ""
}

#[audited(event = "a.early")]
fn early_return() -> String {
    if true {
        return "";
    }
    String::new()
}

#[audited(event = "a.async_mismatch")]
async fn async_mismatch() -> String {
    ""
}

#[audited(event = "a.async_early")]
async fn async_early_return() -> String {
    if true {
        return "";
    }
    String::new()
}

#[audited(event = "a.question")]
fn question_mark() -> Result<u8, String> {
    let n: u8 = "1".parse()?;
    Ok(n)
}

fn main() {
    unit();
    let _ = simple_mismatch();
    let _ = early_return();
    let _ = async_mismatch();
    let _ = async_early_return();
    let _ = question_mark();
}
