use audit_layer::audited;

#[audited(event = "token.rotate", redact(secret))]
fn rotate(token: &str) -> usize {
    token.len()
}

fn main() {
    rotate("t");
}
