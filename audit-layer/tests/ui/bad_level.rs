use audit_layer::audited;

#[audited(event = "a.b", level = "verbose")]
fn word() {}

#[audited(event = "a.c", level = 9)]
fn number() {}

#[audited(event = "a.d", level = some_level())]
fn call() {}

fn main() {
    word();
    number();
    call();
}
