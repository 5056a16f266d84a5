use audit_layer::audited;

#[audited(event = "user.create")]
struct User {
    name: String,
}

#[audited(event = "user.update")]
impl User {
    fn rename(&mut self, name: String) {
        self.name = name;
    }
}

trait Store {
    #[audited(event = "store.put")]
    fn put(&mut self, key: &str);
}

fn main() {
    let mut user = User { name: String::new() };
    user.rename("x".to_owned());
}
