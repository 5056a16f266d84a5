use audit_layer::audited;

#[audited(event = "auth.login", skip_all, skip(password))]
fn login(email: &str, password: &str) -> bool {
    email.len() > password.len()
}

#[audited(event = "auth.logout", skip(email), skip_all)]
fn logout(email: &str) -> bool {
    email.is_empty()
}

fn main() {
    login("a", "b");
    logout("a");
}
