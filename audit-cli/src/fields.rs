//! `--field` arguments: `key=text` (a string) or `key:=json` (any strict JSON value).

use audit_core::canonical::{self, Value};
use audit_core::record::FIELDS_KEY;

/// One `--field` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldArg {
    /// The key as written (`method`, `source.port`).
    pub key: String,
    /// The value.
    pub value: FieldValue,
}

/// The value of a `--field` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue {
    /// `key=text`: a string.
    Text(String),
    /// `key:=json`: a parsed JSON value.
    Json(Value),
}

impl FieldValue {
    /// The value to store.
    pub fn to_value(&self) -> Value {
        match self {
            FieldValue::Text(s) => Value::from(s.as_str()),
            FieldValue::Json(v) => v.clone(),
        }
    }

    /// Whether a record's value matches: `:=` compares JSON values exactly; `=` compares
    /// the text with a string, or with the JSON form of a number, boolean or null.
    pub fn matches(&self, found: &Value) -> bool {
        match (self, found) {
            (FieldValue::Json(want), v) => want == v,
            (FieldValue::Text(want), Value::String(s)) => want == s,
            (FieldValue::Text(want), v @ (Value::Int(_) | Value::Bool(_) | Value::Null)) => {
                *want == v.to_canonical_string()
            }
            (FieldValue::Text(_), _) => false,
        }
    }
}

impl FieldArg {
    /// The dotted path in the record body: a key with a `.` is a path from the top
    /// (`source.port`); a plain key lives under `fields` (`fields.method`).
    pub fn path(&self) -> String {
        if self.key.contains('.') {
            self.key.clone()
        } else {
            format!("{FIELDS_KEY}.{}", self.key)
        }
    }
}

/// Parse `key=text` or `key:=json` (clap value parser).
pub fn parse_field(arg: &str) -> Result<FieldArg, String> {
    let Some(eq) = arg.find('=') else {
        return Err(format!(
            "expected key=value (a string) or key:=json (a JSON value), got {arg:?}"
        ));
    };
    let (key, json) = match arg[..eq].strip_suffix(':') {
        Some(k) => (k, true),
        None => (&arg[..eq], false),
    };
    let raw = &arg[eq + 1..];
    if key.is_empty() {
        return Err(format!("the key is empty in {arg:?}"));
    }
    if key.starts_with('.') || key.ends_with('.') || key.contains("..") {
        return Err(format!(
            "invalid key {key:?}: dotted paths need non-empty segments (e.g. source.port)"
        ));
    }
    let value = if json {
        let v = canonical::parse(raw).map_err(|e| {
            format!("{key}:= expects strict JSON (integers, no floats), and {raw:?} is not: {e}; for a string, write {key}={raw}")
        })?;
        FieldValue::Json(v)
    } else {
        FieldValue::Text(raw.to_owned())
    };
    Ok(FieldArg {
        key: key.to_owned(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_fields() {
        let f = parse_field("method=password").unwrap();
        assert_eq!(f.key, "method");
        assert_eq!(f.value, FieldValue::Text("password".into()));
        assert_eq!(f.path(), "fields.method");
        let f = parse_field("source.port:=443").unwrap();
        assert_eq!(f.value, FieldValue::Json(Value::Int(443)));
        assert_eq!(f.path(), "source.port");
        let f = parse_field("a=b:=c=d").unwrap();
        assert_eq!(f.value, FieldValue::Text("b:=c=d".into()));
        let f = parse_field("empty=").unwrap();
        assert_eq!(f.value, FieldValue::Text(String::new()));
        let f = parse_field(r#"o:={"x":[true]}"#).unwrap();
        assert_eq!(f.value.to_value().to_canonical_string(), r#"{"x":[true]}"#);
        assert!(parse_field("nothing").is_err());
        assert!(parse_field("=v").is_err());
        assert!(parse_field("a..b=v").is_err());
        assert!(parse_field("n:=1.5").unwrap_err().contains("n=1.5"));
    }

    #[test]
    fn matching() {
        let t = FieldValue::Text("42".into());
        assert!(t.matches(&Value::Int(42)));
        assert!(t.matches(&Value::from("42")));
        let j = FieldValue::Json(Value::Int(42));
        assert!(j.matches(&Value::Int(42)));
        assert!(!j.matches(&Value::from("42")));
    }
}
