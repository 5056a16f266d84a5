//! Sensitive field names: how a name is normalised and the compiled set it is checked
//! against.
//!
//! A name is normalised once, into a stack buffer: ASCII letters are lowercased, every other
//! ASCII character (`_`, `-`, `.`, space, `[`, `]`, `$`, ...) and every `%XX` escape is a
//! separator and is dropped, non-ASCII bytes are kept as they are. While doing so the name is
//! cut into *words* at separators and at camel-case humps (`accessToken` → `access`,
//! `token`; `APIKey` → `api`, `key`). A trailing run of digits is ignored (`password2`,
//! `cvv2`).
//!
//! A name is sensitive when
//!
//! 1. its normalised form **ends with** a suffix rule (`user_password`, `client_secret`,
//!    `X-Api-Key`, `refresh-token`, `Set-Cookie` ...), or
//! 2. one of its **words** equals a word rule (`pin`, `pan`, `ssn`, `cvv`, `pwd`, and the
//!    strong words `password`, `secret`, so that `password_hash` or `secret_value` are caught
//!    too), or
//! 3. for a member of a JSON object, the normalised parent name followed by the normalised
//!    name ends with a suffix rule (`{"session": {"id": ..}}` is `sessionid`,
//!    `{"card": {"number": ..}}` is `cardnumber`),
//!
//! and its normalised form is not on the allow-list of names.
//!
//! Short names (`pin`, `pan`, `ssn`) are word rules, never suffix rules: `spin`, `company` and
//! `lesson` stay readable.

use super::actions::Action;

/// Longest normalised name kept; longer names keep their last `MAX_NAME` bytes, which is
/// what suffix matching looks at.
const MAX_NAME: usize = 64;
/// Most words remembered per name; later words merge into the last one.
const MAX_WORDS: usize = 16;

/// How the default list is grouped: each group has its own default action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Secrets and personal data: masked.
    Secret,
    /// Card numbers: the last four digits are kept ([`Action::Partial`]).
    Card,
    /// Session identifiers: pseudonymised when a key is configured, masked otherwise
    /// (OWASP: log a salted hash of the session id, not the id).
    Session,
}

/// The documented default suffix rules (normalised form, class).
pub(crate) const DEFAULT_SUFFIXES: &[(&str, Class)] = &[
    ("password", Class::Secret),
    ("passwd", Class::Secret),
    ("passphrase", Class::Secret),
    ("secret", Class::Secret),
    ("token", Class::Secret),
    ("apikey", Class::Secret),
    ("accesskey", Class::Secret),
    ("secretkey", Class::Secret),
    ("privatekey", Class::Secret),
    ("signingkey", Class::Secret),
    ("encryptionkey", Class::Secret),
    ("masterkey", Class::Secret),
    ("authorization", Class::Secret),
    ("cookie", Class::Secret),
    ("credential", Class::Secret),
    ("credentials", Class::Secret),
    ("signature", Class::Secret),
    ("connectionstring", Class::Secret),
    ("otp", Class::Secret),
    ("mfacode", Class::Secret),
    ("pincode", Class::Secret),
    ("securitycode", Class::Secret),
    ("ssn", Class::Secret),
    ("socialsecuritynumber", Class::Secret),
    ("nationalid", Class::Secret),
    ("passportnumber", Class::Secret),
    ("taxid", Class::Secret),
    ("iban", Class::Secret),
    ("dateofbirth", Class::Secret),
    ("cardnumber", Class::Card),
    ("cardno", Class::Card),
    ("ccnumber", Class::Card),
    ("creditcard", Class::Card),
    ("primaryaccountnumber", Class::Card),
    ("sessionid", Class::Session),
    ("sessid", Class::Session),
    ("sessionkey", Class::Session),
    ("sessiontoken", Class::Session),
];

/// The documented default word rules (normalised form, class).
pub(crate) const DEFAULT_WORDS: &[(&str, Class)] = &[
    ("password", Class::Secret),
    ("passwd", Class::Secret),
    ("pwd", Class::Secret),
    ("secret", Class::Secret),
    ("pin", Class::Secret),
    ("ssn", Class::Secret),
    ("cvv", Class::Secret),
    ("cvc", Class::Secret),
    ("cvn", Class::Secret),
    ("otp", Class::Secret),
    ("dob", Class::Secret),
    ("dsn", Class::Secret),
    ("pan", Class::Card),
];

/// A name, normalised, with its word boundaries. Lives on the stack.
pub(crate) struct Normalized {
    buf: [u8; MAX_NAME],
    len: usize,
    /// `(start, end)` of each word in `buf`.
    words: [(u8, u8); MAX_WORDS],
    n_words: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sep,
    Lower,
    Upper,
    Digit,
    Other,
}

fn kind(b: u8) -> Kind {
    match b {
        b'a'..=b'z' => Kind::Lower,
        b'A'..=b'Z' => Kind::Upper,
        b'0'..=b'9' => Kind::Digit,
        0x80..=0xff => Kind::Other,
        _ => Kind::Sep,
    }
}

impl Normalized {
    /// Nothing yet (filled in place by [`push_name`](Self::push_name), no copy).
    #[inline]
    fn empty() -> Normalized {
        Normalized {
            buf: [0; MAX_NAME],
            len: 0,
            words: [(0, 0); MAX_WORDS],
            n_words: 0,
        }
    }

    /// Normalise `name` (see the module docs).
    pub(crate) fn new(name: &str) -> Normalized {
        let mut n = Normalized::empty();
        n.push_name(name);
        n
    }

    /// Append another name (a member's name after its parent's), as more words.
    pub(crate) fn push_name(&mut self, name: &str) {
        let mut bytes = name.as_bytes();
        // Keep the tail of over-long names (suffix rules look there).
        let room = MAX_NAME - self.len;
        if bytes.len() > room {
            bytes = &bytes[bytes.len() - room..];
        }
        let mut prev = Kind::Sep;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            // `%5B`-style escapes are separators (`user%5Bpassword%5D`).
            if b == b'%'
                && i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit()
            {
                prev = Kind::Sep;
                i += 3;
                continue;
            }
            let k = kind(b);
            if k == Kind::Sep {
                prev = Kind::Sep;
                i += 1;
                continue;
            }
            let next = bytes.get(i + 1).map_or(Kind::Sep, |&c| kind(c));
            let starts_word = match (prev, k) {
                (Kind::Sep, _) => true,
                (Kind::Lower | Kind::Digit, Kind::Upper) => true,
                // `APIKey`: the `K` starts a word because a lowercase letter follows it.
                (Kind::Upper, Kind::Upper) => next == Kind::Lower,
                _ => false,
            };
            if starts_word {
                self.start_word();
            }
            self.buf[self.len] = b.to_ascii_lowercase();
            self.len += 1;
            self.end_word();
            prev = k;
            i += 1;
        }
    }

    fn start_word(&mut self) {
        if self.n_words < MAX_WORDS {
            self.words[self.n_words] = (self.len as u8, self.len as u8);
            self.n_words += 1;
        }
    }

    fn end_word(&mut self) {
        if self.n_words > 0 {
            self.words[self.n_words - 1].1 = self.len as u8;
        }
    }

    /// The normalised bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The normalised bytes without a trailing run of digits (unless that is all there is).
    fn stem(&self) -> &[u8] {
        strip_digits(self.as_bytes())
    }

    fn words(&self) -> impl Iterator<Item = &[u8]> {
        self.words[..self.n_words]
            .iter()
            .map(|&(s, e)| strip_digits(&self.buf[s as usize..e as usize]))
    }
}

/// `hay` ends with `suffix`; compared inline from the end (names are short: a libc
/// `memcmp` call per rule costs more than the comparison).
#[inline]
fn ends_with_bytes(hay: &[u8], suffix: &[u8]) -> bool {
    if suffix.len() > hay.len() {
        return false;
    }
    let off = hay.len() - suffix.len();
    let mut k = suffix.len();
    while k > 0 {
        k -= 1;
        if hay[off + k] != suffix[k] {
            return false;
        }
    }
    true
}

#[inline]
fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && ends_with_bytes(a, b)
}

fn strip_digits(b: &[u8]) -> &[u8] {
    let end = b.len() - b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if end == 0 {
        b
    } else {
        &b[..end]
    }
}

/// Normalise a name given to the builder; `None` if nothing is left.
pub(crate) fn normalize_rule(name: &str) -> Option<Box<[u8]>> {
    let n = Normalized::new(name);
    let s = n.stem();
    (!s.is_empty()).then(|| s.into())
}

/// One compiled rule.
#[derive(Clone, Debug)]
struct Rule {
    text: Box<[u8]>,
    action: Action,
}

/// A name rule matched: the action to take and whether the value runs to the end of the line
/// when it appears unquoted in text (`Cookie: a=1; b=2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NameMatch {
    pub(crate) action: Action,
    pub(crate) line_valued: bool,
}

/// The compiled name set: suffix rules bucketed by their last byte, word rules, and allowed
/// names. Built once per policy.
#[derive(Clone, Debug)]
pub(crate) struct NameSet {
    suffixes: Vec<Rule>,
    /// For each last byte, the indices of the suffix rules ending with it.
    by_last: Vec<Vec<u16>>,
    words: Vec<Rule>,
    /// For each length, the indices of the word rules of that length.
    words_by_len: Vec<Vec<u16>>,
    allowed: Vec<Box<[u8]>>,
}

/// A rule as given to the builder: normalised text, its own action if any, its class.
pub(crate) type RuleSpec = (Box<[u8]>, Option<Action>, Class);

/// Rules as given to the builder (before compilation).
#[derive(Clone, Debug, Default)]
pub(crate) struct NameRules {
    pub(crate) suffixes: Vec<RuleSpec>,
    pub(crate) words: Vec<RuleSpec>,
    pub(crate) allowed: Vec<Box<[u8]>>,
}

impl NameRules {
    pub(crate) fn defaults() -> NameRules {
        let conv = |list: &[(&str, Class)]| {
            list.iter()
                .map(|(n, c)| (Box::<[u8]>::from(n.as_bytes()), None, *c))
                .collect()
        };
        NameRules {
            suffixes: conv(DEFAULT_SUFFIXES),
            words: conv(DEFAULT_WORDS),
            allowed: Vec::new(),
        }
    }

    pub(crate) fn remove(&mut self, norm: &[u8]) {
        self.suffixes.retain(|(t, _, _)| &**t != norm);
        self.words.retain(|(t, _, _)| &**t != norm);
    }
}

impl NameSet {
    /// Compile `rules`; `class_action` gives the action of a rule that has none of its own.
    pub(crate) fn compile(rules: &NameRules, class_action: impl Fn(Class) -> Action) -> NameSet {
        let mk = |list: &[RuleSpec]| -> Vec<Rule> {
            let mut out: Vec<Rule> = Vec::with_capacity(list.len());
            for (text, action, class) in list {
                let action = action.unwrap_or_else(|| class_action(*class));
                // A later rule for the same text replaces an earlier one.
                match out.iter_mut().find(|r| r.text == *text) {
                    Some(r) => r.action = action,
                    None => out.push(Rule {
                        text: text.clone(),
                        action,
                    }),
                }
            }
            out
        };
        let suffixes = mk(&rules.suffixes);
        let mut by_last = vec![Vec::new(); 256];
        for (i, r) in suffixes.iter().enumerate() {
            if let Some(&last) = r.text.last() {
                by_last[usize::from(last)].push(i as u16);
            }
        }
        let words = mk(&rules.words);
        let mut words_by_len = vec![Vec::new(); MAX_NAME + 1];
        for (i, r) in words.iter().enumerate() {
            if r.text.len() <= MAX_NAME {
                words_by_len[r.text.len()].push(i as u16);
            }
        }
        NameSet {
            suffixes,
            by_last,
            words,
            words_by_len,
            allowed: rules.allowed.clone(),
        }
    }

    fn suffix_match(&self, stem: &[u8]) -> Option<&Rule> {
        let last = *stem.last()?;
        let mut best: Option<&Rule> = None;
        for &i in &self.by_last[usize::from(last)] {
            let r = &self.suffixes[usize::from(i)];
            if ends_with_bytes(stem, &r.text) && best.is_none_or(|b| b.text.len() < r.text.len()) {
                best = Some(r);
            }
        }
        best
    }

    /// Whether `stem` is the end of a longer suffix rule.
    fn is_tail(&self, stem: &[u8]) -> bool {
        let Some(&last) = stem.last() else {
            return false;
        };
        self.by_last[usize::from(last)].iter().any(|&i| {
            let r = &self.suffixes[usize::from(i)].text;
            r.len() > stem.len() && ends_with_bytes(r, stem)
        })
    }

    fn word_match<'a>(&self, mut words: impl Iterator<Item = &'a [u8]>) -> Option<&Rule> {
        words.find_map(|w| {
            self.words_by_len
                .get(w.len())?
                .iter()
                .map(|&i| &self.words[usize::from(i)])
                .find(|r| eq_bytes(&r.text, w))
        })
    }

    fn is_allowed(&self, stem: &[u8]) -> bool {
        !self.allowed.is_empty() && self.allowed.iter().any(|a| eq_bytes(a, stem))
    }

    /// Check a name on its own (text keys, top-level members).
    pub(crate) fn check(&self, name: &str) -> Option<NameMatch> {
        let mut n = Normalized::empty();
        n.push_name(name);
        let stem = n.stem();
        if n.len == 0 || self.is_allowed(stem) {
            return None;
        }
        self.rule_match(&n, stem)
    }

    fn rule_match(&self, n: &Normalized, stem: &[u8]) -> Option<NameMatch> {
        let rule = self
            .suffix_match(stem)
            .or_else(|| self.word_match(n.words()))?;
        Some(NameMatch {
            action: rule.action,
            line_valued: ends_with_bytes(stem, b"cookie"),
        })
    }

    /// Check a member of an object whose own name is `parent` (rule 3 of the module docs).
    pub(crate) fn check_member(&self, name: &str, parent: Option<&str>) -> Option<NameMatch> {
        let mut own = Normalized::empty();
        own.push_name(name);
        let stem = own.stem();
        if own.len == 0 || self.is_allowed(stem) {
            return None;
        }
        if let Some(m) = self.rule_match(&own, stem) {
            return Some(m);
        }
        let parent = parent?;
        // Only worth joining if some suffix rule ends with this name and is longer
        // (`id` ends `sessionid`; `amount` ends nothing).
        if !self.is_tail(stem) {
            return None;
        }
        let mut joined = Normalized::empty();
        joined.push_name(parent);
        if joined.len == 0 {
            return None;
        }
        joined.push_name(name);
        let rule = self.suffix_match(joined.stem())?;
        Some(NameMatch {
            action: rule.action,
            line_valued: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> NameSet {
        NameSet::compile(&NameRules::defaults(), |c| match c {
            Class::Secret => Action::Mask,
            Class::Card => Action::Partial,
            Class::Session => Action::Mask,
        })
    }

    fn norm(s: &str) -> String {
        String::from_utf8(Normalized::new(s).as_bytes().to_vec()).unwrap()
    }

    fn words(s: &str) -> Vec<String> {
        let n = Normalized::new(s);
        n.words()
            .map(|w| String::from_utf8(w.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn normalisation() {
        assert_eq!(norm("X-Api-Key"), "xapikey");
        assert_eq!(norm("user[password]"), "userpassword");
        assert_eq!(norm("user%5Bpassword%5D"), "userpassword");
        assert_eq!(words("accessToken"), ["access", "token"]);
        assert_eq!(words("APIKey"), ["api", "key"]);
        assert_eq!(words("userPIN"), ["user", "pin"]);
        assert_eq!(words("card_pan2"), ["card", "pan"]);
        assert_eq!(words("set-cookie"), ["set", "cookie"]);
        assert_eq!(norm("Pässword"), "p\u{e4}ssword");
    }

    #[test]
    fn the_spellings_of_the_issue_are_caught() {
        let s = set();
        for name in [
            "password",
            "Password",
            "PASSWORD",
            "user_password",
            "userPassword",
            "new-password",
            "password2",
            "passwd",
            "pwd",
            "db_pwd",
            "secret",
            "client_secret",
            "clientSecret",
            "token",
            "accessToken",
            "access_token",
            "refresh-token",
            "id_token",
            "api_key",
            "apiKey",
            "APIKey",
            "x-api-key",
            "X-API-KEY",
            "authorization",
            "Proxy-Authorization",
            "cookie",
            "set-cookie",
            "Set-Cookie",
            "session_id",
            "sessionId",
            "JSESSIONID",
            "PHPSESSID",
            "private_key",
            "privateKey",
            "ssn",
            "user_ssn",
            "card_number",
            "cardNumber",
            "pan",
            "card.pan",
            "cvv",
            "cvv2",
            "CVC",
            "pin",
            "userPIN",
            "password_hash",
            "secret_value",
            "aws_secret_access_key",
            "x-auth-token",
            "credentials",
            "otp",
            "totp",
            "user[password]",
            "database_connection_string",
            "iban",
            "date_of_birth",
        ] {
            assert!(s.check(name).is_some(), "{name} should be sensitive");
        }
    }

    #[test]
    fn ordinary_names_are_left_alone() {
        let s = set();
        for name in [
            "username",
            "user",
            "email",
            "company",
            "spinner",
            "pandas",
            "lesson",
            "token_count",
            "max_tokens",
            "token_type",
            "order_id",
            "id",
            "method",
            "reason",
            "keyboard",
            "session_timeout",
            "expand",
            "opinion",
            "description",
        ] {
            assert!(s.check(name).is_none(), "{name} should not be sensitive");
        }
    }

    #[test]
    fn members_join_their_parent() {
        let s = set();
        assert!(s.check_member("id", Some("session")).is_some());
        assert_eq!(
            s.check_member("number", Some("card")).map(|m| m.action),
            Some(Action::Partial)
        );
        assert!(s.check_member("key", Some("api")).is_some());
        assert!(s.check_member("id", Some("user")).is_none());
        assert!(s.check_member("id", Some("event")).is_none());
        assert!(s.check_member("ip", Some("source")).is_none());
    }

    #[test]
    fn longest_suffix_wins() {
        let s = NameSet::compile(&NameRules::defaults(), |c| match c {
            Class::Session => Action::KeyedHash,
            _ => Action::Mask,
        });
        assert_eq!(
            s.check("session_token").map(|m| m.action),
            Some(Action::KeyedHash)
        );
        assert_eq!(s.check("auth_token").map(|m| m.action), Some(Action::Mask));
    }

    #[test]
    fn allowed_names_win() {
        let mut rules = NameRules::defaults();
        rules
            .allowed
            .push(normalize_rule("password_changed_at").unwrap());
        let s = NameSet::compile(&rules, |_| Action::Mask);
        assert!(s.check("passwordChangedAt").is_none());
        assert!(s.check("password").is_some());
    }

    #[test]
    fn cookies_are_line_valued() {
        let s = set();
        assert!(s.check("Cookie").unwrap().line_valued);
        assert!(!s.check("password").unwrap().line_valued);
    }
}
