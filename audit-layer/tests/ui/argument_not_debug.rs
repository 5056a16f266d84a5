use audit_layer::audited;

struct Credentials {
    secret: String,
}

#[audited(event = "auth.login")]
fn login(user: &str, credentials: Credentials) -> bool {
    user.len() < credentials.secret.len()
}

fn main() {
    login("u", Credentials { secret: String::new() });
}
