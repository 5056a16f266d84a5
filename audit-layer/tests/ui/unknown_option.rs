use audit_layer::audited;

#[audited(event = "auth.login", target = "security", err, user = name)]
fn login(name: &str) -> bool {
    !name.is_empty()
}

fn main() {
    login("x");
}
