use audit_layer::audited;

#[audited(event = "auth.login", skip(pasword))]
fn login(email: &str, password: &str) -> bool {
    email.len() > password.len()
}

#[audited(event = "auth.logout", skip(self))]
fn logout() {}

fn main() {
    login("a", "b");
    logout();
}
