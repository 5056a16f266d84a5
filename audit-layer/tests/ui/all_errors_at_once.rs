use audit_layer::audited;

#[audited(
    event = "Auth.Login",
    actor = %email,
    skip(pasword),
    redact(token, nope),
    skip_all,
    level = "loud",
    fields(source.ip, ip = 1, ip = 2),
    retries = 3,
)]
const fn login(email: &str, password: &str, token: &str) -> usize {
    email.len() + password.len() + token.len()
}

fn main() {
    let _ = login("a", "b", "c");
}
