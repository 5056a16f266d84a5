use audit_layer::audited;

#[audited]
fn no_args() {}

#[audited(actor = %user, skip(password))]
fn no_event(user: &str, password: &str) -> bool {
    user == password
}

fn main() {
    no_args();
    no_event("u", "p");
}
