use audit_layer::audited;

#[derive(Debug)]
struct Account {
    id: u64,
}

#[audited(event = "account.close", actor = account, resource = %account, fields(id = account.id, owner = ?missing))]
fn close(account: &Account) -> u64 {
    account.id
}

fn main() {
    close(&Account { id: 1 });
}
