//! Redaction end to end: a corpus of more than a hundred secrets, in every guise the
//! redaction issue lists, goes through the real layer (`#[audited]` arguments, `audit_event!`
//! fields, `audit_layer::record`, span context, error reasons) into a real, sealed log file.
//! The test fails if any secret, or any 8-character run of one, can be read in that file (a
//! card number may keep its last four digits).
//!
//! A benign corpus (UUIDs, order numbers, timestamps, 16-digit numbers that fail Luhn, prose,
//! addresses, hashes, ...) goes the same way and measures false positives: the share of
//! benign values the policy changed. It is printed, and must stay at or below 2%: a false
//! positive costs the readability of one value and never safety, but above one in fifty a
//! validator is missing (every detector pairs its pattern with a check that benign data
//! rarely passes, so the designed rate is near zero; the residue is `name: message` prose such
//! as validation errors about a password field, which the pair rule masks on purpose).
//!
//! Secrets are generated from a fixed seed, so the corpus is the same on every run.

use std::collections::HashMap;
use std::fmt;

use audit_layer::audit_core::canonical::{parse_canonical, Object, Value};
use audit_layer::audit_core::keys::SealingKey;
use audit_layer::audit_core::verify::{Verdict, Verifier};
use audit_layer::{audit_event, audited, AuditLayer};
use tracing_subscriber::layer::SubscriberExt;

// ---------------------------------------------------------------------------------------
// Deterministic generation
// ---------------------------------------------------------------------------------------

struct Rng(u64);

const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const DIGITS: &str = "0123456789";

impl Rng {
    /// splitmix64.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn from(&mut self, set: &str, n: usize) -> String {
        let b = set.as_bytes();
        (0..n).map(|_| char::from(b[self.below(b.len())])).collect()
    }

    fn alnum(&mut self, n: usize) -> String {
        self.from(&format!("{UPPER}{LOWER}{DIGITS}"), n)
    }

    fn b64url(&mut self, n: usize) -> String {
        self.from(&format!("{UPPER}{LOWER}{DIGITS}-_"), n)
    }

    fn digits(&mut self, n: usize) -> String {
        self.from(DIGITS, n)
    }

    fn hex(&mut self, n: usize) -> String {
        self.from("0123456789abcdef", n)
    }

    /// A random token with at least one upper-case letter, lower-case letter and digit.
    fn token(&mut self, n: usize) -> String {
        let mut t = self.alnum(n - 3);
        for set in [UPPER, LOWER, DIGITS] {
            let c = self.from(set, 1);
            let at = self.below(t.len() + 1);
            t.insert_str(at, &c);
        }
        t
    }
}

fn luhn_check_digit(partial: &str) -> char {
    let sum: u32 = partial
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = u32::from(c - b'0');
            if i % 2 == 0 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// A valid card number: `prefix`, random digits, a Luhn check digit.
fn card(rng: &mut Rng, prefix: &str, len: usize) -> String {
    let mut s = prefix.to_owned();
    s.push_str(&rng.digits(len - prefix.len() - 1));
    let c = luhn_check_digit(&s);
    s.push(c);
    s
}

/// A 16-digit number with an issuer-like prefix whose check digit is wrong.
fn not_a_card(rng: &mut Rng) -> String {
    let prefix = ["4", "51", "37", "6011", "35", "22", "1", "9"][rng.below(8)];
    let valid = card(rng, prefix, 16);
    let last = valid.as_bytes()[15] - b'0';
    let wrong = (last + 1 + rng.below(9) as u8) % 10;
    format!("{}{}", &valid[..15], wrong)
}

fn group(digits: &str, sizes: &[usize], sep: char) -> String {
    let mut out = String::new();
    let mut at = 0;
    for (k, n) in sizes.iter().enumerate() {
        if k > 0 {
            out.push(sep);
        }
        out.push_str(&digits[at..at + n]);
        at += n;
    }
    out
}

fn b64(data: &[u8], url: bool) -> String {
    let alphabet: &[u8] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for k in 0..=n {
            out.push(char::from(alphabet[((v >> (18 - 6 * k)) & 63) as usize]));
        }
        if !url {
            out.push_str(&"=".repeat(3 - n));
        }
    }
    out
}

fn jwt(rng: &mut Rng, alg: &str, sig_len: usize) -> String {
    let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes(), true);
    let payload = b64(
        format!(
            r#"{{"sub":"{}","iat":{},"scope":"read write"}}"#,
            rng.alnum(12),
            1_700_000_000 + rng.below(10_000_000)
        )
        .as_bytes(),
        true,
    );
    format!("{header}.{payload}.{}", rng.b64url(sig_len))
}

fn pem(rng: &mut Rng, label: &str) -> String {
    let body: Vec<String> = (0..4)
        .map(|_| rng.from(&format!("{UPPER}{LOWER}{DIGITS}+/"), 64))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----",
        body.join("\n")
    )
}

// ---------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------

struct Secret {
    guise: String,
    value: String,
    card: bool,
}

#[derive(Default)]
struct Corpus {
    secrets: Vec<Secret>,
}

impl Corpus {
    /// Adds a secret that is not a card number; returns its value.
    fn add(&mut self, guise: impl Into<String>, value: &str) -> String {
        self.add_secret(guise.into(), value, false)
    }

    /// Adds a card number (which may keep its last four digits); returns its value.
    fn add_card(&mut self, guise: impl Into<String>, value: &str) -> String {
        self.add_secret(guise.into(), value, true)
    }

    /// Adds a secret, `card` or not; returns its value.
    fn add_secret(&mut self, guise: String, value: &str, card: bool) -> String {
        self.secrets.push(Secret {
            guise,
            value: value.to_owned(),
            card,
        });
        value.to_owned()
    }
}

// ---------------------------------------------------------------------------------------
// Audited code, written the way application code is
// ---------------------------------------------------------------------------------------

/// Carries values recorded from inside the body (`audit_layer::record`), by name.
#[audited(event = "corpus.fields", skip(items))]
fn carry(items: &[(String, Value)]) {
    for (name, value) in items {
        audit_layer::record(name.clone(), value);
    }
}

#[audited(event = "corpus.args", actor = %user)]
fn sign_in(
    user: &str,
    password: &str,
    api_key: &str,
    card_number: &str,
    refresh_token: String,
) -> Result<(), String> {
    let _ = (password, api_key, card_number, refresh_token);
    Ok(())
}

#[audited(event = "corpus.forced", redact(blob))]
fn store(blob: &str, kind: &str) {
    let _ = (blob, kind);
}

#[audited(event = "corpus.int_card")]
fn refund(reference: u64) {
    let _ = reference;
}

#[derive(Debug)]
#[allow(dead_code)]
struct CardInfo {
    number: String,
    cvv: String,
    expiry: String,
}

#[derive(Debug)]
#[allow(dead_code)]
struct LoginRequest {
    user: String,
    password: String,
    api_key: Option<String>,
    card: CardInfo,
    headers: Vec<(String, String)>,
}

#[audited(event = "corpus.debug_arg")]
fn submit(request: &LoginRequest) {
    let _ = request;
}

#[derive(Debug)]
#[allow(dead_code)]
struct Body(String);

#[audited(event = "corpus.debug_json")]
fn post(body: Body) {
    let _ = body;
}

#[audited(event = "corpus.reason", skip(message))]
fn fail(message: String) -> Result<(), String> {
    Err(message)
}

#[derive(Debug)]
struct DbError {
    dsn: String,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}: connection refused", self.dsn)
    }
}

#[audited(event = "corpus.reason_display", skip(dsn))]
fn connect(dsn: &str) -> Result<(), DbError> {
    Err(DbError {
        dsn: dsn.to_owned(),
    })
}

/// An error with `Debug` only: its `Debug` text becomes the reason.
#[derive(Debug)]
#[allow(dead_code)]
struct AuthFailure {
    user: String,
    password: String,
}

#[audited(event = "corpus.reason_debug", skip(password))]
fn authenticate(user: &str, password: &str) -> Result<(), AuthFailure> {
    Err(AuthFailure {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

#[audited(event = "corpus.resource", resource = %dsn, skip(dsn))]
fn open_database(dsn: &str) {
    let _ = dsn;
}

#[audited(event = "corpus.benign", skip(items))]
fn benign(items: &[(String, Value)]) {
    for (name, value) in items {
        audit_layer::record(name.clone(), value);
    }
}

// ---------------------------------------------------------------------------------------
// Emitting the corpus
// ---------------------------------------------------------------------------------------

fn emit_secrets(rng: &mut Rng, c: &mut Corpus) {
    // 1. By field name, however it is spelled (the value alone would not be detected).
    let names = [
        "password",
        "Password",
        "PASSWORD",
        "user_password",
        "userPassword",
        "new-password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "client_secret",
        "clientSecret",
        "token",
        "accessToken",
        "access_token",
        "refresh-token",
        "id_token",
        "auth_token",
        "api_key",
        "apiKey",
        "x-api-key",
        "X-API-KEY",
        "authorization",
        "Proxy-Authorization",
        "cookie",
        "set-cookie",
        "session_id",
        "sessionId",
        "JSESSIONID",
        "private_key",
        "aws_secret_access_key",
        "ssn",
        "cvv",
        "cvv2",
        "pin",
        "userPIN",
        "otp",
        "mfa_code",
        "password_hash",
        "signing_key",
        "user.password",
        "credentials.api_key",
        "session.id",
    ];
    let items: Vec<(String, Value)> = names
        .iter()
        .map(|n| {
            let v = c.add(format!("name {n}"), &rng.token(20));
            ((*n).to_owned(), Value::from(v))
        })
        .collect();
    for chunk in items.chunks(8) {
        carry(chunk);
    }
    // Card numbers by name: partial.
    let cn = c.add_card("name card_number", &card(rng, "4", 16));
    let pan = c.add_card("name pan", &card(rng, "5", 16));
    carry(&[
        ("card_number".into(), Value::from(cn)),
        ("pan".into(), Value::from(pan)),
    ]);

    // 2. Nested, at any depth, in objects and arrays.
    let mut nested = Object::new();
    let s1 = c.add("nested auth.Password", &rng.token(18));
    nested.object_mut("auth").insert("Password", s1);
    let s2 = c.add("nested config.stripe.secretKey", &rng.token(24));
    nested
        .object_mut("config")
        .object_mut("stripe")
        .insert("secretKey", s2);
    let s3 = c.add("nested a.b.c.d.client-secret", &rng.token(22));
    nested
        .object_mut("a")
        .object_mut("b")
        .object_mut("c")
        .object_mut("d")
        .insert("client-secret", s3);
    let mut list = Vec::new();
    for k in 0..3 {
        let mut o = Object::new();
        o.insert("name", format!("svc-{k}"));
        o.insert(
            "Token",
            c.add(format!("nested services[{k}].Token"), &rng.token(20)),
        );
        list.push(Value::Object(o));
    }
    nested.insert("services", list);
    let mut headers = Object::new();
    let bt = c.add("nested headers.Authorization", &rng.token(32));
    headers.insert("Authorization", format!("Bearer {bt}"));
    headers.insert("Accept", "application/json");
    nested.insert("headers", headers);
    let mut card_obj = Object::new();
    card_obj.insert(
        "number",
        c.add_card("nested card.number", &card(rng, "37", 15)),
    );
    nested.insert("card", card_obj);
    carry(&[("payload".into(), Value::Object(nested))]);

    // 3. By value, whatever the field is called.
    let mut by_value: Vec<(String, String)> = Vec::new();
    let cards = [
        (card(rng, "4", 16), None),
        (card(rng, "4", 16), Some((&[4, 4, 4, 4][..], ' '))),
        (card(rng, "51", 16), Some((&[4, 4, 4, 4][..], '-'))),
        (card(rng, "2221", 16), None),
        (card(rng, "34", 15), Some((&[4, 6, 5][..], ' '))),
        (card(rng, "6011", 16), None),
        (card(rng, "3528", 16), None),
        (card(rng, "36", 14), None),
        (card(rng, "62", 19), None),
        (card(rng, "4", 19), Some((&[4, 4, 4, 4, 3][..], ' '))),
    ];
    for (digits, grouping) in cards {
        let written = match grouping {
            Some((sizes, sep)) => group(&digits, sizes, sep),
            None => digits,
        };
        c.add_card("value card", &written);
        by_value.push(("note".into(), format!("paid with {written}, thanks")));
    }
    for alg in ["HS256", "RS256", "ES384"] {
        let sig_len = 43 + rng.below(300);
        let t = c.add(format!("value jwt {alg}"), &jwt(rng, alg, sig_len));
        by_value.push(("data".into(), t));
    }
    for _ in 0..3 {
        let t = c.add("value bearer", &rng.token(40));
        by_value.push(("comment".into(), format!("sent Bearer {t} upstream")));
    }
    for _ in 0..2 {
        let user = format!("user{}", rng.digits(3));
        let pass = rng.token(14);
        let t = c.add(
            "value basic",
            &b64(format!("{user}:{pass}").as_bytes(), false),
        );
        by_value.push(("comment".into(), format!("header was Basic {t}")));
    }
    for prefix in ["AKIA", "ASIA", "AKIA"] {
        let t = c.add(
            "value aws",
            &format!(
                "{prefix}{}",
                rng.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
            ),
        );
        by_value.push(("value".into(), format!("aws configure set key {t}")));
    }
    for label in ["RSA PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"] {
        let t = c.add(format!("value pem {label}"), &pem(rng, label));
        by_value.push(("blob".into(), t));
    }
    for scheme in ["postgres", "redis", "https", "amqp"] {
        let pass = c.add(format!("value url {scheme}"), &rng.token(16));
        by_value.push((
            "target".into(),
            format!("{scheme}://svc_user:{pass}@db.internal:5432/main?sslmode=require"),
        ));
    }
    let vendor = [
        format!("ghp_{}", rng.alnum(36)),
        format!("gho_{}", rng.alnum(36)),
        format!("github_pat_{}_{}", rng.alnum(22), rng.alnum(59)),
        format!("glpat-{}", rng.b64url(20)),
        format!(
            "xoxb-{}-{}-{}",
            rng.digits(12),
            rng.digits(13),
            rng.alnum(24)
        ),
        format!(
            "xoxp-{}-{}-{}-{}",
            rng.digits(12),
            rng.digits(12),
            rng.digits(13),
            rng.hex(32)
        ),
        format!("sk_live_{}", rng.alnum(24)),
        format!("rk_live_{}", rng.alnum(24)),
        format!("sk_test_{}", rng.alnum(24)),
        format!("whsec_{}", rng.alnum(32)),
        format!("AIza{}", rng.b64url(35)),
        format!("ya29.{}", rng.b64url(60)),
        format!("GOCSPX-{}", rng.b64url(28)),
        format!("sk-proj-{}", rng.token(40)),
        format!("npm_{}", rng.alnum(36)),
    ];
    for t in vendor {
        c.add("value vendor token", &t);
        by_value.push(("result".into(), format!("configured with {t}.")));
    }
    let hook = c.add(
        "value slack webhook",
        &format!("T{}/B{}/{}", rng.alnum(8), rng.alnum(10), rng.alnum(24)),
    );
    by_value.push((
        "target".into(),
        format!("https://hooks.slack.com/services/{hook}"),
    ));
    let ssn = c.add(
        "value ssn",
        &format!(
            "{}-{}-{}",
            100 + rng.below(500),
            10 + rng.below(89),
            1000 + rng.below(8999)
        ),
    );
    by_value.push(("note".into(), format!("SSN on file: {ssn}")));
    // One record per value, all under innocuous names.
    for (name, value) in by_value {
        carry(&[(name, Value::from(value))]);
    }
    // A card passed as an integer.
    let int_card = card(rng, "4", 16);
    c.add_card("value integer card", &int_card);
    refund(int_card.parse().unwrap());

    // 4. Inside Debug and Display text.
    let req = LoginRequest {
        user: "bob".into(),
        password: c.add("debug struct password", &rng.token(16)),
        api_key: Some(c.add("debug struct api_key", &rng.token(24))),
        card: CardInfo {
            number: c.add_card("debug struct card.number", &card(rng, "4", 16)),
            cvv: c.add("debug struct cvv", &rng.digits(9)),
            expiry: "12/29".into(),
        },
        headers: vec![
            (
                "authorization".into(),
                format!("Bearer {}", c.add("debug struct header", &rng.token(30))),
            ),
            ("accept".into(), "*/*".into()),
        ],
    };
    submit(&req);
    audit_event!(event = "corpus.pretty", fields(request = %format!("{req:#?}")));

    let json = format!(
        r#"{{"user":"bob","password":"{}","refresh_token":"{}","remember":true}}"#,
        c.add("json password", &rng.token(15)),
        c.add("json refresh_token", &rng.token(28))
    );
    audit_event!(event = "corpus.json", fields(body = %json));
    post(Body(format!(
        r#"{{"username":"bob","apiKey":"{}"}}"#,
        c.add("debug json apiKey", &rng.token(26))
    )));
    let mut header_map: HashMap<&str, String> = HashMap::new();
    // The secret is the encoded credential: the password itself is never written.
    let user_pass = c.add(
        "debug map basic credential",
        &b64(format!("ops:{}", rng.token(14)).as_bytes(), false),
    );
    header_map.insert("authorization", format!("Basic {user_pass}"));
    header_map.insert(
        "cookie",
        format!(
            "sid={}; theme=dark",
            c.add("debug map cookie", &rng.token(20))
        ),
    );
    audit_event!(event = "corpus.headers", fields(headers = ?header_map));

    let form = format!(
        "user=bob&password={}&remember=1",
        c.add("query form password", &rng.token(14))
    );
    let url = format!(
        "https://api.example.com/cb?state=xyz&access_token={}&scope=read",
        c.add("query access_token", &rng.token(30))
    );
    let key_url = format!(
        "/v1/search?q=shoes&api_key={}",
        c.add("query api_key", &rng.token(24))
    );
    audit_event!(event = "corpus.query", fields(form = %form, url = %url, path = %key_url));

    let raw = format!(
        "POST /login HTTP/1.1\r\nHost: app\r\nAuthorization: Bearer {}\r\nCookie: sid={}; theme=dark\r\nX-Api-Key: {}\r\n\r\n",
        c.add("header bearer", &rng.token(36)),
        c.add("header cookie", &rng.token(22)),
        c.add("header x-api-key", &rng.token(26)),
    );
    audit_event!(event = "corpus.http", fields(raw_request = %raw, raw_debug = ?raw));
    let xml = format!(
        "<login><user>bob</user><password>{}</password></login>",
        c.add("xml password", &rng.token(16))
    );
    let tuples = vec![
        ("user".to_owned(), "bob".to_owned()),
        (
            "client_secret".to_owned(),
            c.add("debug tuple client_secret", &rng.token(24)),
        ),
    ];
    audit_event!(event = "corpus.misc", fields(xml = %xml, params = ?tuples));

    // 5. Reasons.
    let _ = fail(format!(
        "login failed: password={} rejected",
        c.add("reason password pair", &rng.token(15))
    ));
    let _ = fail(format!(
        "token {} expired",
        c.add("reason jwt", &jwt(rng, "HS512", 86))
    ));
    let _ = fail(format!(
        "charge of card {} declined",
        c.add_card("reason card", &card(rng, "5", 16))
    ));
    let _ = fail(format!(
        "access denied for key {}",
        c.add(
            "reason aws",
            &format!("AKIA{}", rng.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16))
        )
    ));
    let dsn_pass = c.add("reason display dsn", &rng.token(18));
    let _ = connect(&format!("postgres://app:{dsn_pass}@db:5432/orders"));
    let _ = authenticate("bob", &c.add("reason debug error", &rng.token(16)));
    audit_event!(
        event = "corpus.event_reason",
        outcome = "failure",
        reason = format!(
            "upstream said Authorization: Bearer {}",
            c.add("event reason bearer", &rng.token(30))
        )
    );

    // 6. Arguments, forced redaction, resources, span context.
    let _ = sign_in(
        "bob",
        &c.add("arg password", &rng.token(16)),
        &c.add("arg api_key", &rng.token(24)),
        &c.add_card("arg card_number", &card(rng, "4", 16)),
        c.add("arg refresh_token", &rng.token(30)),
    );
    store(&c.add("forced redact(blob)", &rng.token(20)), "note");
    let res_pass = c.add("resource dsn", &rng.token(16));
    open_database(&format!("mysql://root:{res_pass}@10.0.0.5/app"));
    let sid = c.add("span context session_id", &rng.token(32));
    let span = tracing::info_span!("request", session_id = %sid, request_id = "r-1");
    span.in_scope(|| audit_event!(event = "corpus.context"));
    audit_event!(
        event = "corpus.event_fields",
        fields(
            password = %c.add("event field password", &rng.token(16)),
            "refresh-token" = %c.add("event field refresh-token", &rng.token(30)),
            "X-Api-Key" = %c.add("event field X-Api-Key", &rng.token(26)),
        )
    );
}

/// Benign values with the name they are recorded under.
fn benign_corpus(rng: &mut Rng) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = Vec::new();
    let mut push = |name: &str, value: Value| v.push((name.to_owned(), value));
    for _ in 0..40 {
        let h = rng.hex(32);
        let uuid = format!(
            "{}-{}-4{}-{}{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            ["8", "9", "a", "b"][rng.below(4)],
            &h[17..20],
            &h[20..32]
        );
        push("note", Value::from(uuid));
    }
    for _ in 0..20 {
        let order = match rng.below(3) {
            0 => format!("ORD-2026-{}", rng.digits(6)),
            1 => format!("A-{}", rng.digits(4)),
            _ => format!("PO{}", rng.digits(10)),
        };
        push("note", Value::from(order));
    }
    for _ in 0..10 {
        push(
            "note",
            Value::Int(1_000_000_000 + rng.below(8_000_000_000) as i64),
        );
    }
    for _ in 0..10 {
        push(
            "note",
            Value::from(format!(
                "2026-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z",
                1 + rng.below(12),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.digits(6)
            )),
        );
    }
    for _ in 0..5 {
        push(
            "note",
            Value::Int(1_767_225_600_000 + rng.below(100_000_000) as i64),
        );
        push(
            "note",
            Value::from(format!(
                "2026-01-{:02} {:02}:{:02}:00",
                1 + rng.below(28),
                rng.below(24),
                rng.below(60)
            )),
        );
    }
    for k in 0..40 {
        let n = not_a_card(rng);
        let value = match k % 4 {
            0 | 1 => Value::from(n),
            2 => Value::from(group(&n, &[4, 4, 4, 4], if k % 8 == 2 { ' ' } else { '-' })),
            _ => Value::Int(n.parse::<i64>().unwrap() % 9_007_199_254_740_991),
        };
        push("note", value);
    }
    for k in 0..10 {
        push(
            "contact",
            Value::from(format!("{}.{}@example.com", rng.alnum(6).to_lowercase(), k)),
        );
        push(
            "client",
            Value::from(format!(
                "{}.{}.{}.{}",
                rng.below(256),
                rng.below(256),
                rng.below(256),
                rng.below(256)
            )),
        );
    }
    for _ in 0..10 {
        push("digest", Value::from(rng.hex(64)));
    }
    for _ in 0..10 {
        push(
            "phone",
            Value::from(format!(
                "+{} {} {} {}",
                1 + rng.below(98),
                rng.digits(3),
                rng.digits(3),
                rng.digits(4)
            )),
        );
    }
    // Fixed text: prose, URLs and other metadata, by the name each is recorded under.
    let fixed: [(&str, &[&str]); 3] = [
        (
            "message",
            &[
                "Your password was changed successfully.",
                "Token refresh scheduled in 5 minutes.",
                "The bearer of this card must sign the receipt.",
                "Basic plan selected by user 42.",
                "Secret Santa event created for the team.",
                "Please enter your PIN at the terminal.",
                "Session expired after 30 minutes of inactivity.",
                "Order 4532 shipped to 221B Baker Street, London.",
                "Card ending in 4242 was charged 19.99 EUR.",
                "Meeting at 10:30: discuss the roadmap",
                "Error: connection refused (os error 111)",
                "User alice@example.com logged in from 192.0.2.1",
                "Invoice #2026-0042 total: 1,234.56 EUR",
                "Retrying in 2s (attempt 3/5)",
                "Key rotation completed for kid k1",
                "GET /api/v1/orders?page=2&limit=50 200 OK",
                "Cache hit ratio: 93%",
                "Backup of database 'orders' finished in 42s",
                "New API version 2.3.1 released",
                "Feature flag checkout_v2 enabled for 10% of users",
                "disk usage: 71% of 512 GiB",
                "Sent 3 emails to the billing team",
                "Password policy requires 12 characters",
                "Authorization granted for role admin",
                "The secret to good logs is structure.",
                "Expected a token field in the request body",
                "rate limit: 100 requests per minute",
                "password: must be at least 12 characters long",
                "Two-factor authentication enabled via authenticator app",
                "Shipment 1Z999AA10123456784 delivered",
            ],
        ),
        (
            "url",
            &[
                "https://example.com/orders/42?page=2&sort=asc",
                "https://user@example.com/profile",
                "http://localhost:8080/health",
                "s3://bucket/path/to/object.json",
                "postgres://db.internal:5432/orders",
                "https://api.example.com/v1/tokens?limit=10",
                "ftp://files.example.com/pub/readme.txt",
                "https://example.com/#section:2",
                "wss://stream.example.com/socket?channel=prices",
                "https://cdn.example.com/a:b/c.png",
            ],
        ),
        (
            "meta",
            &[
                "1.4.2",
                "v2.0.0-rc.1",
                "/var/log/app/audit.log",
                "C:\\Program Files\\App\\app.exe",
                "k8s-pod-7f9c8d6b5-x2x4z",
                "de8f4a1",
                "application/json; charset=utf-8",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
                "en-US,en;q=0.9",
                "gzip, deflate, br",
            ],
        ),
    ];
    for (name, values) in fixed {
        for value in values {
            push(name, Value::from(*value));
        }
    }
    // Names that look close to sensitive ones but are not.
    for (name, value) in [
        ("token_count", Value::Int(512)),
        ("max_tokens", Value::Int(1024)),
        ("token_type", Value::from("Bearer")),
        ("company", Value::from("Acme Corp")),
        ("spinner", Value::from("dots")),
        ("opinion", Value::from("positive")),
        ("username", Value::from("alice")),
        ("session_timeout", Value::Int(1800)),
        ("description", Value::from("Quarterly report")),
        ("keyboard", Value::from("us")),
        ("lesson", Value::from("intro")),
        ("password_reset_required", Value::Bool(true)),
    ] {
        push(name, value);
    }
    v
}

// ---------------------------------------------------------------------------------------
// Reading the log
// ---------------------------------------------------------------------------------------

/// Append every string, key and integer of `v` to `out`, separated by U+0001 so that no run
/// spans two values.
fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\u{1}');
        }
        Value::Int(i) => {
            out.push_str(&i.to_string());
            out.push('\u{1}');
        }
        Value::Array(a) => a.iter().for_each(|x| collect_text(x, out)),
        Value::Object(o) => {
            for (k, x) in o.iter() {
                out.push_str(k);
                out.push('\u{1}');
                collect_text(x, out);
            }
        }
        _ => {}
    }
}

/// A record without what the library writes itself (MACs, ids, timestamps, durations),
/// whose random hex and digits could match a secret's run by chance.
fn content_of(record: &Value) -> Value {
    let mut r = record.as_object().unwrap().clone();
    r.remove("audit");
    r.remove("@timestamp");
    if let Some(Value::Object(e)) = r.get_mut("event") {
        for k in ["id", "parent_id", "duration"] {
            e.remove(k);
        }
    }
    Value::Object(r)
}

fn action(v: &Value) -> &str {
    v.get_path("event.action").and_then(Value::as_str).unwrap()
}

struct Run {
    /// Secrets the leak check did not see (all but the forced one, without redaction).
    missed: Vec<String>,
    n_secrets: usize,
    cards: usize,
    partials: usize,
    secret_records: usize,
    unlisted: Vec<String>,
    leaks: Vec<String>,
    benign: usize,
    changed: Vec<String>,
}

/// Send both corpora through a layer with `policy` (the default when `None`) into a real
/// log file, verify the file, and look for the secrets in it.
fn run(policy: Option<audit_layer::redact::Policy>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (sk, vk) = SealingKey::generate("k1", 64).unwrap();
    let mut builder = AuditLayer::builder()
        .log_file(&path)
        .sealing_key(sk)
        .without_process_fallback();
    if let Some(p) = policy {
        builder = builder.redaction(p);
    }
    let (layer, guard) = builder.build().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    let mut rng = Rng(0x005E_C2E7_A50F_2026);
    let mut corpus = Corpus::default();
    let benign_values = benign_corpus(&mut Rng(0xBE_41_6E));
    tracing::subscriber::with_default(subscriber, || {
        emit_secrets(&mut rng, &mut corpus);
        for chunk in benign_values.chunks(1) {
            benign(chunk);
        }
    });
    drop(guard);

    let report = Verifier::new(vk.into())
        .verify_files(std::slice::from_ref(&path))
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Ok, "{:?}", report.findings);
    let raw = std::fs::read_to_string(&path).unwrap();
    let records: Vec<Value> = raw
        .lines()
        .map(|l| parse_canonical(l).unwrap())
        .filter(|v| !action(v).starts_with("audit."))
        .collect();

    // Secrets: the whole value anywhere in the file, or any 8-character run of it in what
    // the records say.
    let mut content = String::new();
    let mut unlisted = Vec::new();
    let mut secret_records = 0;
    for r in records.iter().filter(|r| action(r) != "corpus.benign") {
        secret_records += 1;
        collect_text(&content_of(r), &mut content);
        let listed = r
            .get_path("redaction.fields")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !listed {
            unlisted.push(r.to_canonical_string());
        }
    }
    let mut leaks = Vec::new();
    for s in &corpus.secrets {
        if raw.contains(&s.value) {
            leaks.push(format!("{}: the whole secret {:?}", s.guise, s.value));
            continue;
        }
        let chars: Vec<char> = s.value.chars().collect();
        for w in chars.windows(8) {
            let run: String = w.iter().collect();
            if content.contains(&run) {
                leaks.push(format!("{}: run {run:?} of {:?}", s.guise, s.value));
                break;
            }
        }
    }

    // Benign values: changed at all?
    let benign_records: Vec<&Value> = records
        .iter()
        .filter(|r| action(r) == "corpus.benign")
        .collect();
    assert_eq!(benign_records.len(), benign_values.len());
    let mut changed = Vec::new();
    for (record, (name, value)) in benign_records.iter().zip(&benign_values) {
        let written = record
            .get_path("fields")
            .and_then(Value::as_object)
            .and_then(|f| f.get(name));
        if written != Some(value) {
            changed.push(format!("{name}: {value} -> {written:?}"));
        }
    }
    let seen: Vec<&str> = leaks.iter().map(|l| l.split(':').next().unwrap()).collect();
    let missed: Vec<String> = corpus
        .secrets
        .iter()
        .filter(|s| !seen.contains(&s.guise.as_str()))
        .map(|s| format!("{}: {:?}", s.guise, s.value))
        .collect();
    Run {
        missed,
        n_secrets: corpus.secrets.len(),
        cards: corpus.secrets.iter().filter(|s| s.card).count(),
        partials: content.matches("[REDACTED]...").count(),
        secret_records,
        unlisted,
        leaks,
        benign: benign_values.len(),
        changed,
    }
}

#[test]
fn no_secret_reaches_the_log_and_benign_values_pass() {
    let r = run(None);
    assert!(
        r.n_secrets >= 100,
        "only {} secrets in the corpus",
        r.n_secrets
    );
    assert!(
        r.leaks.is_empty(),
        "{} of {} secrets leaked:\n{}",
        r.leaks.len(),
        r.n_secrets,
        r.leaks.join("\n")
    );
    assert!(
        r.unlisted.is_empty(),
        "records with secrets that list no redaction:\n{}",
        r.unlisted.join("\n")
    );
    // Cards keep their last four digits (the partial action ran); the two cards inside
    // masked text (a `pan` name, a JSON value) may be masked whole.
    assert!(
        r.partials + 2 >= r.cards,
        "{} partial redactions for {} cards",
        r.partials,
        r.cards
    );
    println!(
        "redaction corpus: {} secrets ({} cards) in {} records, none leaked",
        r.n_secrets, r.cards, r.secret_records
    );
    let rate = r.changed.len() as f64 / r.benign as f64;
    println!(
        "benign corpus: {} values, {} changed, false-positive rate {:.2}%",
        r.benign,
        r.changed.len(),
        rate * 100.0
    );
    for c in &r.changed {
        println!("  false positive: {c}");
    }
    assert!(
        rate <= 0.02,
        "false-positive rate {:.2}% > 2%",
        rate * 100.0
    );
}

/// The check above has teeth: with a policy that redacts nothing, it sees the leaks.
#[test]
fn without_redaction_the_corpus_check_sees_the_leaks() {
    use audit_layer::redact::{Detector, Policy};
    let mut nothing = Policy::builder().clear_sensitive_names();
    for d in Detector::ALL {
        nothing = nothing.disable_detector(d);
    }
    let r = run(Some(nothing.build().unwrap()));
    // Only the parameter forced with `redact(...)` stays hidden.
    assert_eq!(r.missed.len(), 1, "the leak check missed: {:?}", r.missed);
    assert!(
        r.missed[0].starts_with("forced redact(blob)"),
        "{:?}",
        r.missed
    );
    assert!(r.changed.is_empty());
}

#[test]
fn the_layer_uses_its_configured_policy() {
    use audit_layer::redact::{Action, Policy, PseudonymKey};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (sk, _vk) = SealingKey::generate("k1", 64).unwrap();
    let policy = Policy::builder()
        .pseudonym_key(PseudonymKey::new([3u8; 32]).unwrap())
        .field_action("user.id", Action::KeyedHash)
        .allow_field("fields.api_key")
        .sensitive_name("order_id")
        .build()
        .unwrap();
    let (layer, guard) = AuditLayer::builder()
        .log_file(&path)
        .sealing_key(sk)
        .without_process_fallback()
        .redaction(policy)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for _ in 0..2 {
            audit_event!(
                event = "policy.check",
                actor = %"alice@example.com",
                fields(api_key = "public-demo-key", order_id = "A-1", note = "fine")
            );
        }
        let span = tracing::info_span!("req", session_id = "s-123");
        span.in_scope(|| audit_event!(event = "policy.session"));
    });
    drop(guard);
    let raw = std::fs::read_to_string(&path).unwrap();
    let records: Vec<Value> = raw
        .lines()
        .map(|l| parse_canonical(l).unwrap())
        .filter(|v| !action(v).starts_with("audit."))
        .collect();
    let user = |r: &Value| r.get_path("user.id").unwrap().as_str().unwrap().to_owned();
    assert!(user(&records[0]).starts_with("hmac-sha256:"));
    assert_eq!(user(&records[0]), user(&records[1]));
    assert!(!raw.contains("alice@example.com"));
    assert_eq!(
        records[0].get_path("fields.api_key").unwrap().as_str(),
        Some("public-demo-key")
    );
    assert_eq!(
        records[0].get_path("fields.order_id").unwrap().as_str(),
        Some("[REDACTED]")
    );
    assert_eq!(
        records[0]
            .get_path("redaction.fields")
            .unwrap()
            .to_canonical_string(),
        r#"["fields.order_id","user.id"]"#
    );
    // With a pseudonym key, session ids are pseudonymised by default.
    assert!(records[2]
        .get_path("session.id")
        .unwrap()
        .as_str()
        .unwrap()
        .starts_with("hmac-sha256:"));
}
