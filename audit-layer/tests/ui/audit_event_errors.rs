use audit_layer::audit_event;

fn main() {
    let user = "u";
    audit_event!(outcome = "denied", actor = %user);
    audit_event!(event = "session.Timeout", outcome = "timeout");
    audit_event!(event = "session.end", skip(user), fields(later = Empty), outcome = "success", outcome = "failure");
    audit_event!(event = "session.start", reason = );
}
