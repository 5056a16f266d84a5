use audit_layer::audited;

#[audited(event = "token.rotate", skip(token), redact(token))]
fn rotate(token: &str) -> usize {
    token.len()
}

#[audited(event = "token.revoke", skip_all, redact(token))]
fn revoke(token: &str) -> usize {
    token.len()
}

fn main() {
    rotate("t");
    revoke("t");
}
