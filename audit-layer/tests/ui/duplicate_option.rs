use audit_layer::audited;

#[audited(event = "auth.login", level = "info", event = "auth.logout", level = 2)]
fn login() {}

fn main() {
    login();
}
