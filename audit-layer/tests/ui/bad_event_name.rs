use audit_layer::audited;

#[audited(event = "login")]
fn one_segment() {}

#[audited(event = "Auth.Login")]
fn uppercase() {}

#[audited(event = "auth..login")]
fn empty_segment() {}

#[audited(event = "auth.2fa")]
fn digit_first() {}

#[audited(event = "auth.log-in")]
fn dash() {}

#[audited(event = AUTH_LOGIN)]
fn not_a_literal() {}

const AUTH_LOGIN: &str = "auth.login";

fn main() {
    one_segment();
    uppercase();
    empty_segment();
    digit_first();
    dash();
    not_a_literal();
    let _ = AUTH_LOGIN;
}
