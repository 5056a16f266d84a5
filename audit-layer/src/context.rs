//! Context fields: the fields of ordinary spans (a request id, a client ip) that the layer
//! copies into the records of audited actions running inside them.
//!
//! Every span the application creates passes through the layer, and most carry no context
//! field at all, so the question "is this span field one of them?" is on the path of every
//! span, audited or not. [`ContextFields`] answers it for most names without comparing
//! strings: one bit per configured name in a 64-bit mask, looked up from the name's length
//! and first and last bytes. Only a name whose bit is set is compared with the configured
//! names.

use audit_core::canonical::Value;
use tracing::field::{Field, Visit};

/// The configured context fields: span field name → record path, in the order given (the
/// first entry for a name wins).
#[derive(Debug)]
pub(crate) struct ContextFields {
    fields: Vec<(String, &'static str)>,
    /// The bits ([`bit`]) of every configured name.
    mask: u64,
}

/// A name's bit in [`ContextFields::mask`]: a hash of its length, first and last bytes.
fn bit(name: &str) -> u64 {
    let b = name.as_bytes();
    let (first, last) = match (b.first(), b.last()) {
        (Some(f), Some(l)) => (u64::from(*f), u64::from(*l)),
        _ => (0, 0),
    };
    let h = (b.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ first.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ last.wrapping_mul(0x1656_67B1_9E37_79F9);
    1 << (h >> 58)
}

impl ContextFields {
    pub(crate) fn new(fields: Vec<(String, &'static str)>) -> ContextFields {
        let mask = fields.iter().fold(0, |m, (name, _)| m | bit(name));
        ContextFields { fields, mask }
    }

    /// The record path of span field `name`, if it is a context field.
    pub(crate) fn path_of(&self, name: &str) -> Option<&'static str> {
        if self.mask & bit(name) == 0 {
            return None;
        }
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, path)| *path)
    }

    /// Whether any of `fields` is a context field.
    pub(crate) fn any_in(&self, fields: &tracing::field::FieldSet) -> bool {
        fields.iter().any(|f| self.path_of(f.name()).is_some())
    }
}

/// Context values copied from a span, stored in its extensions.
#[derive(Debug, Default)]
pub(crate) struct ContextValues(pub(crate) Vec<(&'static str, Value)>);

/// Records a span's context fields into its [`ContextValues`] (a value recorded again
/// replaces the earlier one).
pub(crate) struct ContextVisitor<'a> {
    pub(crate) wanted: &'a ContextFields,
    pub(crate) out: &'a mut ContextValues,
}

impl ContextVisitor<'_> {
    fn put(&mut self, field: &Field, v: Value) {
        if let Some(path) = self.wanted.path_of(field.name()) {
            match self.out.0.iter_mut().find(|(p, _)| *p == path) {
                Some(slot) => slot.1 = v,
                None => self.out.0.push((path, v)),
            }
        }
    }
}

impl Visit for ContextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value.to_string()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mask only skips comparisons: every configured name is found, with the path of its
    /// first entry, and no other name is, whatever its bit.
    #[test]
    fn path_of_finds_exactly_the_configured_names() {
        let configured: Vec<(String, &'static str)> = crate::layer::DEFAULT_CONTEXT_FIELDS
            .iter()
            .map(|(f, p)| ((*f).to_owned(), *p))
            .chain([
                ("tenant".to_owned(), "organization.id"),
                ("tenant".to_owned(), "ignored.second"),
                (String::new(), "empty.name"),
            ])
            .collect();
        let fields = ContextFields::new(configured.clone());
        for (name, path) in &configured {
            let first = configured.iter().find(|(n, _)| n == name).map(|(_, p)| *p);
            assert_eq!(fields.path_of(name), first, "{name}");
            assert!(first == Some(*path) || name == "tenant");
        }
        let others = [
            "http.method",
            "url.path",
            "user",
            "attempt",
            "request",
            "request_ID",
            "tenants",
            "session",
            "trace_ids",
            "x",
            "é",
            "client.ip",
            "otel.name",
            "message",
        ];
        let mut skipped = 0;
        for name in others {
            assert_eq!(fields.path_of(name), None, "{name}");
            skipped += usize::from(fields.mask & bit(name) == 0);
        }
        // The mask does its job: most unrelated names are ruled out without comparing.
        assert!(
            skipped * 2 > others.len(),
            "only {skipped} of {} skipped",
            others.len()
        );
    }
}
