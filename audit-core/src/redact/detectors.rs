//! Secrets recognised by their value, whatever the field is called.
//!
//! Each detector is a hand-written byte scanner plus a validator, in the manner of
//! gitleaks, detect-secrets, Presidio and Datadog's Sensitive Data Scanner: a candidate that
//! has the right shape is only reported when it also passes a check that random text
//! rarely does (a Luhn digit and an issuer prefix for cards, a JSON header for JWTs, a
//! `user:password` inside Basic credentials, a country length and mod-97 for IBANs).
//!
//! One pass over the bytes finds candidates: a table indexed by the byte at each position
//! lists the detectors that can start there (`e` for `eyJ`, digits for cards, `-` for PEM
//! blocks, `:` for `://` ...), so text without any trigger costs one table look-up per byte.
//! Token detectors only start at a word boundary (the byte before is not an ASCII letter or
//! digit) and only match when the token ends at one.

use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::actions::Action;

/// A built-in detector. Each can be disabled or given its own [`Action`] on the
/// [`PolicyBuilder`](super::PolicyBuilder).
///
/// ```
/// use audit_core::redact::{Detector, Policy};
/// let p = Policy::default();
/// assert_eq!(p.redact_text("card 4111 1111 1111 1111 declined"), "card [REDACTED]...1111 declined");
/// assert_eq!(p.redact_text("order 4111 1111 1111 1112 shipped"), "order 4111 1111 1111 1112 shipped");
/// assert_eq!(Detector::CardNumber.name(), "card-number");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Detector {
    /// Payment card numbers (PAN): 13 to 19 digits, in one run or grouped as cards are
    /// printed (4-4-4-4, 4-4-4-4-3, 4-6-5, 4-6-4) with single spaces or dashes, with a known
    /// issuer prefix and a valid Luhn check digit. Default action [`Action::Partial`] (the
    /// last four digits stay).
    CardNumber,
    /// JSON Web Tokens (JWS and JWE compact form): `eyJ...` segments whose first decodes
    /// (base64url) to a JSON object with an `"alg"` member.
    Jwt,
    /// `Bearer <token>` (any case): a token68 of at least 8 characters with a digit.
    BearerToken,
    /// `Basic <base64>` (any case) that decodes to printable `user:password`.
    BasicCredentials,
    /// AWS access key ids: `AKIA`, `ASIA`, `ABIA`, `ACCA` or `A3T?` and 16 more uppercase
    /// letters or digits, exactly.
    AwsAccessKeyId,
    /// PEM private keys: `-----BEGIN ... PRIVATE KEY-----` to the matching `-----END ...-----`
    /// (or to the end of the text if it is missing), the whole block.
    PemPrivateKey,
    /// The password of credentials in a URL: `scheme://user:password@host` (the user and
    /// the host stay).
    UrlCredentials,
    /// GitHub tokens: `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and 30+ letters or digits;
    /// `github_pat_` and 40+ characters.
    GitHubToken,
    /// GitLab personal access tokens: `glpat-` and 20+ characters.
    GitLabToken,
    /// Slack tokens: `xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`, `xoxo-`, `xapp-` and 10+
    /// characters with a digit.
    SlackToken,
    /// The secret path of Slack incoming webhooks (`hooks.slack.com/services/...`).
    SlackWebhook,
    /// Stripe secret and restricted keys and webhook secrets: `sk_live_`, `sk_test_`,
    /// `rk_live_`, `rk_test_`, `whsec_` and 16+ letters or digits.
    StripeKey,
    /// Google API keys: `AIza` and exactly 35 characters of `A-Z a-z 0-9 - _`.
    GoogleApiKey,
    /// Google OAuth access tokens (`ya29.`) and client secrets (`GOCSPX-`).
    GoogleOAuth,
    /// OpenAI / Anthropic style API keys: `sk-` and 32+ characters mixing upper case, lower
    /// case and digits.
    OpenAiStyleKey,
    /// npm access tokens: `npm_` and 36 letters or digits.
    NpmToken,
    /// US social security numbers written `ddd-dd-dddd`, minus the numbers the SSA never
    /// issues (area 000, 666 or 900-999, group 00, serial 0000).
    UsSsn,
    /// IBANs (compact or in groups of four): a known country, that country's length and a
    /// mod-97 check of 1.
    Iban,
}

impl Detector {
    /// Every built-in detector.
    ///
    /// ```
    /// use audit_core::redact::{Detector, Policy};
    /// let builder = Detector::ALL.into_iter().fold(Policy::builder(), |b, d| b.disable_detector(d));
    /// let names_only = builder.build()?;
    /// assert_eq!(names_only.redact_text("card 4111 1111 1111 1111"), "card 4111 1111 1111 1111");
    /// assert_eq!(names_only.redact_text("password=x1"), "password=[REDACTED]");
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub const ALL: [Detector; 18] = [
        Detector::CardNumber,
        Detector::Jwt,
        Detector::BearerToken,
        Detector::BasicCredentials,
        Detector::AwsAccessKeyId,
        Detector::PemPrivateKey,
        Detector::UrlCredentials,
        Detector::GitHubToken,
        Detector::GitLabToken,
        Detector::SlackToken,
        Detector::SlackWebhook,
        Detector::StripeKey,
        Detector::GoogleApiKey,
        Detector::GoogleOAuth,
        Detector::OpenAiStyleKey,
        Detector::NpmToken,
        Detector::UsSsn,
        Detector::Iban,
    ];

    /// A stable kebab-case name (`card-number`, `jwt`, `aws-access-key-id`, ...).
    ///
    /// ```
    /// use audit_core::redact::Detector;
    /// // Look a detector up by the name a configuration file gives.
    /// let by_name = |name: &str| Detector::ALL.into_iter().find(|d| d.name() == name);
    /// assert_eq!(by_name("us-ssn"), Some(Detector::UsSsn));
    /// assert_eq!(by_name("aws-access-key-id"), Some(Detector::AwsAccessKeyId));
    /// assert_eq!(by_name("ssn"), None);
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Detector::CardNumber => "card-number",
            Detector::Jwt => "jwt",
            Detector::BearerToken => "bearer-token",
            Detector::BasicCredentials => "basic-credentials",
            Detector::AwsAccessKeyId => "aws-access-key-id",
            Detector::PemPrivateKey => "pem-private-key",
            Detector::UrlCredentials => "url-credentials",
            Detector::GitHubToken => "github-token",
            Detector::GitLabToken => "gitlab-token",
            Detector::SlackToken => "slack-token",
            Detector::SlackWebhook => "slack-webhook",
            Detector::StripeKey => "stripe-key",
            Detector::GoogleApiKey => "google-api-key",
            Detector::GoogleOAuth => "google-oauth",
            Detector::OpenAiStyleKey => "openai-style-key",
            Detector::NpmToken => "npm-token",
            Detector::UsSsn => "us-ssn",
            Detector::Iban => "iban",
        }
    }

    /// The action used unless the policy says otherwise.
    ///
    /// ```
    /// use audit_core::redact::{Action, Detector};
    /// assert_eq!(Detector::CardNumber.default_action(), Action::Partial);
    /// assert_eq!(Detector::Jwt.default_action(), Action::Mask);
    /// ```
    pub fn default_action(self) -> Action {
        match self {
            Detector::CardNumber => Action::Partial,
            _ => Action::Mask,
        }
    }
}

/// The characters a token of an [`ExtraDetector`] is made of (after its prefix).
///
/// ```
/// use audit_core::redact::{Charset, ExtraDetector, Policy};
/// let ticket = ExtraDetector::new("ticket", "TKT-").charset(Charset::Digits).length(6..=6);
/// let policy = Policy::builder().extra_detector(ticket).build()?;
/// assert_eq!(policy.redact_text("see TKT-123456"), "see [REDACTED]");
/// assert_eq!(policy.redact_text("see TKT-12345a"), "see TKT-12345a");
/// # Ok::<(), audit_core::redact::PolicyError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Charset {
    /// `0-9`.
    Digits,
    /// `0-9 a-f A-F`.
    Hex,
    /// `A-Z 0-9`.
    UpperAlnum,
    /// `A-Z a-z 0-9`.
    Alnum,
    /// `A-Z a-z 0-9 _`.
    AlnumUnderscore,
    /// `A-Z a-z 0-9 - _` (base64url).
    Base64Url,
    /// `A-Z a-z 0-9 + / =` (base64).
    Base64,
    /// The ASCII characters of a set (see [`Charset::any_of`]), as a bit mask.
    AnyOf(u128),
}

impl Charset {
    /// A charset of the given ASCII characters (others are ignored).
    ///
    /// ```
    /// use audit_core::redact::Charset;
    /// let c = Charset::any_of("abc-");
    /// assert!(c.contains(b'-') && !c.contains(b'd'));
    /// ```
    pub fn any_of(chars: &str) -> Charset {
        Charset::AnyOf(
            chars
                .bytes()
                .filter(u8::is_ascii)
                .fold(0u128, |m, b| m | (1u128 << b)),
        )
    }

    /// Whether `b` belongs to the set.
    ///
    /// ```
    /// use audit_core::redact::Charset;
    /// assert!(Charset::Hex.contains(b'f') && !Charset::Hex.contains(b'g'));
    /// assert!(Charset::Base64Url.contains(b'-') && !Charset::Base64.contains(b'-'));
    /// ```
    pub fn contains(self, b: u8) -> bool {
        match self {
            Charset::Digits => b.is_ascii_digit(),
            Charset::Hex => b.is_ascii_hexdigit(),
            Charset::UpperAlnum => b.is_ascii_uppercase() || b.is_ascii_digit(),
            Charset::Alnum => b.is_ascii_alphanumeric(),
            Charset::AlnumUnderscore => b.is_ascii_alphanumeric() || b == b'_',
            Charset::Base64Url => b.is_ascii_alphanumeric() || b == b'-' || b == b'_',
            Charset::Base64 => b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=',
            Charset::AnyOf(mask) => b < 128 && mask & (1u128 << b) != 0,
        }
    }
}

type Validator = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A detector of your own: a literal prefix, then a run of characters from a [`Charset`]
/// whose length is in a range, then a word boundary — plus an optional validator that sees
/// the whole token (prefix included) and can refuse it. The whole token is replaced.
///
/// ```
/// use audit_core::redact::{Charset, ExtraDetector, Policy};
/// let acme = ExtraDetector::new("acme-key", "acme_")
///     .charset(Charset::Hex)
///     .length(32..=32)
///     .validator(|token| !token.ends_with("0000"));
/// let policy = Policy::builder().extra_detector(acme).build()?;
/// let key = format!("acme_{}", "ab12".repeat(8));
/// assert_eq!(policy.redact_text(&format!("using {key} now")), "using [REDACTED] now");
/// assert_eq!(policy.redact_text("acme_short"), "acme_short");
/// # Ok::<(), audit_core::redact::PolicyError>(())
/// ```
#[derive(Clone)]
pub struct ExtraDetector {
    pub(crate) name: Arc<str>,
    pub(crate) prefix: Box<[u8]>,
    pub(crate) charset: Charset,
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) validator: Option<Validator>,
    pub(crate) action: Action,
}

impl ExtraDetector {
    /// A detector named `name` for tokens starting with `prefix` (case-sensitive). The
    /// defaults: [`Charset::Base64Url`], 16 to 512 characters after the prefix, no
    /// validator, [`Action::Mask`].
    ///
    /// ```
    /// use audit_core::redact::{ExtraDetector, Policy};
    /// let policy = Policy::builder().extra_detector(ExtraDetector::new("acme-key", "acme_")).build()?;
    /// // The defaults: base64url, 16 to 512 characters after the prefix.
    /// assert_eq!(policy.redact_text("key acme_0123456789abcdef-_ ok"), "key [REDACTED] ok");
    /// assert_eq!(policy.redact_text("key acme_0123456789 ok"), "key acme_0123456789 ok");
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn new(name: impl Into<String>, prefix: impl Into<String>) -> ExtraDetector {
        ExtraDetector {
            name: name.into().into(),
            prefix: prefix.into().into_bytes().into_boxed_slice(),
            charset: Charset::Base64Url,
            min: 16,
            max: 512,
            validator: None,
            action: Action::Mask,
        }
    }

    /// The characters after the prefix.
    ///
    /// ```
    /// use audit_core::redact::{Charset, ExtraDetector, Policy};
    /// let corp = ExtraDetector::new("corp-id", "CORP").charset(Charset::UpperAlnum).length(8..=8);
    /// let policy = Policy::builder().extra_detector(corp).build()?;
    /// assert_eq!(policy.redact_text("id CORPAB12CD34"), "id [REDACTED]");
    /// assert_eq!(policy.redact_text("id CORPab12cd34"), "id CORPab12cd34");
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn charset(mut self, charset: Charset) -> ExtraDetector {
        self.charset = charset;
        self
    }

    /// How many characters follow the prefix.
    ///
    /// ```
    /// use audit_core::redact::{Charset, ExtraDetector, Policy};
    /// let badge = ExtraDetector::new("badge", "bdg-").charset(Charset::Digits).length(4..=6);
    /// let policy = Policy::builder().extra_detector(badge).build()?;
    /// assert_eq!(policy.redact_text("bdg-1234"), "[REDACTED]");
    /// assert_eq!(policy.redact_text("bdg-123"), "bdg-123");
    /// assert_eq!(policy.redact_text("bdg-1234567"), "bdg-1234567");
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn length(mut self, len: RangeInclusive<usize>) -> ExtraDetector {
        self.min = *len.start();
        self.max = *len.end();
        self
    }

    /// A check on the whole token (prefix included); `false` rejects the candidate.
    ///
    /// ```
    /// use audit_core::redact::{Charset, ExtraDetector, Policy};
    /// // Only numbers whose digits add up to a multiple of 10 (a check digit).
    /// let checked = ExtraDetector::new("acme", "acme_").charset(Charset::Digits).length(8..=8)
    ///     .validator(|token| token[5..].bytes().map(|b| u32::from(b - b'0')).sum::<u32>() % 10 == 0);
    /// let policy = Policy::builder().extra_detector(checked).build()?;
    /// assert_eq!(policy.redact_text("acme_12345672"), "[REDACTED]");
    /// assert_eq!(policy.redact_text("acme_12345673"), "acme_12345673");
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn validator(mut self, f: impl Fn(&str) -> bool + Send + Sync + 'static) -> ExtraDetector {
        self.validator = Some(Arc::new(f));
        self
    }

    /// What to do with a match (default [`Action::Mask`]).
    ///
    /// ```
    /// use audit_core::redact::{Action, ExtraDetector, Policy};
    /// let acme = ExtraDetector::new("acme", "acme_").action(Action::Partial);
    /// let policy = Policy::builder().extra_detector(acme).build()?;
    /// assert_eq!(policy.redact_text("acme_0123456789abcdef"), "[REDACTED]...cdef");
    /// # Ok::<(), audit_core::redact::PolicyError>(())
    /// ```
    pub fn action(mut self, action: Action) -> ExtraDetector {
        self.action = action;
        self
    }

    /// The detector's name.
    ///
    /// ```
    /// use audit_core::redact::{ExtraDetector, Policy, PolicyError};
    /// let empty = ExtraDetector::new("acme-key", "");
    /// assert_eq!(empty.name(), "acme-key");
    /// let err = Policy::builder().extra_detector(empty).build().unwrap_err();
    /// assert!(matches!(err, PolicyError::InvalidDetector { name, .. } if name == "acme-key"));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for ExtraDetector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtraDetector")
            .field("name", &self.name)
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .field("charset", &self.charset)
            .field("length", &(self.min..=self.max))
            .field("validator", &self.validator.is_some())
            .field("action", &self.action)
            .finish()
    }
}

/// One secret found in a text: bytes `start..end` get `action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) action: Action,
}

type Finder = fn(&[u8], usize) -> Option<(usize, usize)>;

#[derive(Clone)]
enum Matcher {
    /// Code: returns the span to replace.
    Func {
        find: Finder,
        boundary: bool,
        action: Action,
    },
    /// A prefix rule (index into `Detectors::rules`).
    Prefix(u16),
}

/// Check on a prefix rule's body (after the prefix).
#[derive(Clone)]
enum Check {
    None,
    HasDigit,
    MixedCaseAndDigit,
    Custom(Validator),
}

#[derive(Clone)]
struct PrefixRule {
    prefix: Box<[u8]>,
    charset: Charset,
    min: usize,
    max: usize,
    check: Check,
    action: Action,
    /// Whether the prefix is part of the secret (else only the body is replaced).
    mask_prefix: bool,
}

/// The compiled detectors of a policy.
#[derive(Clone)]
pub(crate) struct Detectors {
    /// Whether any detector can start at a byte (the fast path of the scan).
    trigger: [bool; 256],
    /// Whether a detector that needs no word boundary can start at a byte (`-`, `:`).
    anywhere: [bool; 256],
    /// Bytes whose presence anywhere in a text makes [`may_match`](Detectors::may_match)
    /// true: the trigger bytes of prefix rules and of finders with no cheaper condition,
    /// and the bytes some finder needs in the text (see [`Needs`]).
    key: [bool; 256],
    /// Whether a finder needs a run of digits ([`Needs::DigitRun`]).
    digit_runs: bool,
    by_first: Vec<Vec<Matcher>>,
    rules: Vec<PrefixRule>,
    /// The action for card numbers, if that detector is on (integers are checked too).
    pub(crate) card: Option<Action>,
    count: usize,
}

impl fmt::Debug for Detectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detectors")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

fn builtin_prefix_rules(d: Detector, action: Action) -> Vec<PrefixRule> {
    let rule = |prefix: &str, charset, min, max, check| PrefixRule {
        prefix: prefix.as_bytes().into(),
        charset,
        min,
        max,
        check,
        action,
        mask_prefix: true,
    };
    match d {
        Detector::AwsAccessKeyId => {
            let mut v: Vec<PrefixRule> = ["AKIA", "ASIA", "ABIA", "ACCA"]
                .iter()
                .map(|p| rule(p, Charset::UpperAlnum, 16, 16, Check::None))
                .collect();
            v.push(rule("A3T", Charset::UpperAlnum, 17, 17, Check::None));
            v
        }
        Detector::GitHubToken => {
            let mut v: Vec<PrefixRule> = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]
                .iter()
                .map(|p| rule(p, Charset::Alnum, 30, 255, Check::None))
                .collect();
            v.push(rule(
                "github_pat_",
                Charset::AlnumUnderscore,
                40,
                255,
                Check::None,
            ));
            v
        }
        Detector::GitLabToken => vec![rule("glpat-", Charset::Base64Url, 20, 255, Check::None)],
        Detector::SlackToken => [
            "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxo-", "xapp-",
        ]
        .iter()
        .map(|p| {
            rule(
                p,
                Charset::any_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"),
                10,
                255,
                Check::HasDigit,
            )
        })
        .collect(),
        Detector::SlackWebhook => vec![PrefixRule {
            mask_prefix: false,
            ..rule(
                "hooks.slack.com/services/",
                Charset::any_of(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_-",
                ),
                20,
                255,
                Check::None,
            )
        }],
        Detector::StripeKey => ["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"]
            .iter()
            .map(|p| rule(p, Charset::Alnum, 16, 255, Check::None))
            .collect(),
        Detector::GoogleApiKey => vec![rule("AIza", Charset::Base64Url, 35, 35, Check::None)],
        Detector::GoogleOAuth => vec![
            rule("ya29.", Charset::Base64Url, 20, 2048, Check::None),
            rule("GOCSPX-", Charset::Base64Url, 20, 64, Check::None),
        ],
        Detector::OpenAiStyleKey => vec![rule(
            "sk-",
            Charset::Base64Url,
            32,
            255,
            Check::MixedCaseAndDigit,
        )],
        Detector::NpmToken => vec![rule("npm_", Charset::Alnum, 36, 36, Check::None)],
        _ => Vec::new(),
    }
}

/// What a text must contain for a built-in finder to match anywhere in it (the prefilter of
/// [`Detectors::may_match`]). Each is a necessary condition, proven from the finder's code.
#[derive(Clone, Copy)]
enum Needs {
    /// Its trigger byte itself (no cheaper condition).
    Trigger,
    /// A run of bytes from `0-9`, ` `, `-` holding at least [`MIN_DIGITS`] digits: a card
    /// number is 13 to 19 digits joined only by single spaces or dashes (`find_card`,
    /// `card_valid`), an SSN is `ddd-dd-dddd`, 9 digits (`find_ssn`).
    DigitRun,
    /// One of these bytes somewhere in the text: `find_jwt` needs `eyJ` (a `J`),
    /// `find_bearer` and `find_basic` need 1 to 4 spaces or tabs after the scheme,
    /// `find_pem` needs `-----BEGIN ` (a `B`).
    AnyOf(&'static [u8]),
}

/// The fewest digits a [`Needs::DigitRun`] finder can match (an SSN's 9; cards need 13).
pub(crate) const MIN_DIGITS: usize = 9;

fn builtin_funcs(d: Detector) -> &'static [(Finder, bool, &'static [u8], Needs)] {
    const DIGITS: &[u8] = b"0123456789";
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    match d {
        Detector::CardNumber => &[(find_card, true, DIGITS, Needs::DigitRun)],
        Detector::UsSsn => &[(find_ssn, true, DIGITS, Needs::DigitRun)],
        Detector::Iban => &[(find_iban, true, UPPER, Needs::Trigger)],
        Detector::Jwt => &[(find_jwt, true, b"e", Needs::AnyOf(b"J"))],
        Detector::BearerToken => &[(find_bearer, true, b"Bb", Needs::AnyOf(b" \t"))],
        Detector::BasicCredentials => &[(find_basic, true, b"Bb", Needs::AnyOf(b" \t"))],
        Detector::PemPrivateKey => &[(find_pem, false, b"-", Needs::AnyOf(b"B"))],
        Detector::UrlCredentials => &[(find_url_password, false, b":", Needs::Trigger)],
        _ => &[],
    }
}

impl Detectors {
    /// Compile the enabled built-ins (with their actions) and the extra detectors.
    pub(crate) fn compile(enabled: &[(Detector, Action)], extras: &[ExtraDetector]) -> Detectors {
        let mut by_first: Vec<Vec<Matcher>> = vec![Vec::new(); 256];
        let mut rules: Vec<PrefixRule> = Vec::new();
        let mut card = None;
        let mut key = [false; 256];
        let mut digit_runs = false;
        for &(d, action) in enabled {
            if d == Detector::CardNumber {
                card = Some(action);
            }
            for &(find, boundary, firsts, needs) in builtin_funcs(d) {
                for &b in firsts {
                    by_first[usize::from(b)].push(Matcher::Func {
                        find,
                        boundary,
                        action,
                    });
                    match needs {
                        Needs::Trigger => key[usize::from(b)] = true,
                        Needs::DigitRun => digit_runs = true,
                        Needs::AnyOf(bytes) => {
                            for &k in bytes {
                                key[usize::from(k)] = true;
                            }
                        }
                    }
                }
            }
            rules.extend(builtin_prefix_rules(d, action));
        }
        rules.extend(extras.iter().map(|e| {
            PrefixRule {
                prefix: e.prefix.clone(),
                charset: e.charset,
                min: e.min,
                max: e.max,
                check: e
                    .validator
                    .as_ref()
                    .map_or(Check::None, |v| Check::Custom(v.clone())),
                action: e.action,
                mask_prefix: true,
            }
        }));
        for (i, r) in rules.iter().enumerate() {
            if let Some(&first) = r.prefix.first() {
                by_first[usize::from(first)].push(Matcher::Prefix(i as u16));
                key[usize::from(first)] = true;
            }
        }
        let mut trigger = [false; 256];
        let mut anywhere = [false; 256];
        for (b, list) in by_first.iter().enumerate() {
            trigger[b] = !list.is_empty();
            anywhere[b] = list.iter().any(|m| {
                matches!(
                    m,
                    Matcher::Func {
                        boundary: false,
                        ..
                    }
                )
            });
        }
        Detectors {
            trigger,
            anywhere,
            key,
            digit_runs,
            by_first,
            rules,
            card,
            count: enabled.len() + extras.len(),
        }
    }

    /// Whether the presence of `b` anywhere in a text makes
    /// [`may_match`](Detectors::may_match) true.
    pub(crate) fn is_key(&self, b: u8) -> bool {
        self.key[usize::from(b)]
    }

    /// Whether a run of [`MIN_DIGITS`] digits (joined by spaces and dashes) makes
    /// [`may_match`](Detectors::may_match) true.
    pub(crate) fn needs_digit_runs(&self) -> bool {
        self.digit_runs
    }

    /// A necessary condition for [`scan`](Detectors::scan) to find anything in `s`: when it
    /// is false, `scan` finds nothing. `scan` only runs matchers at trigger bytes; a prefix
    /// rule, or a finder marked [`Needs::Trigger`], makes its trigger byte a key byte; the
    /// other finders can only match when their [`Needs`] hold, which this checks.
    pub(crate) fn may_match(&self, s: &str) -> bool {
        let mut digits = 0usize;
        for &c in s.as_bytes() {
            if self.key[usize::from(c)] {
                return true;
            }
            if !self.digit_runs {
                continue;
            }
            if c.is_ascii_digit() {
                digits += 1;
                if digits >= MIN_DIGITS {
                    return true;
                }
            } else if c != b' ' && c != b'-' {
                digits = 0;
            }
        }
        false
    }

    /// Find every secret in `s`, appending to `hits`.
    pub(crate) fn scan(&self, s: &str, hits: &mut Vec<Hit>) {
        let b = s.as_bytes();
        let n = b.len();
        let mut i = 0;
        'outer: while i < n {
            let c = usize::from(b[i]);
            if !self.trigger[c] {
                i += 1;
                continue;
            }
            let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
            if !boundary && !self.anywhere[c] {
                // Inside a word: only `-` and `:` detectors could start here.
                i += 1;
                continue;
            }
            let list = &self.by_first[c];
            for m in list {
                let found = match m {
                    Matcher::Func {
                        find,
                        boundary: needs,
                        action,
                    } => {
                        if *needs && !boundary {
                            continue;
                        }
                        find(b, i).map(|(s, e)| (s, e, *action))
                    }
                    Matcher::Prefix(r) => {
                        if !boundary {
                            continue;
                        }
                        let r = &self.rules[usize::from(*r)];
                        self.prefix_match(s, i, r).map(|(s, e)| (s, e, r.action))
                    }
                };
                if let Some((start, end, action)) = found {
                    hits.push(Hit { start, end, action });
                    i = end.max(i + 1);
                    continue 'outer;
                }
            }
            i += 1;
        }
    }

    fn prefix_match(&self, s: &str, i: usize, r: &PrefixRule) -> Option<(usize, usize)> {
        let b = s.as_bytes();
        if !b[i..].starts_with(&r.prefix) {
            return None;
        }
        let body = i + r.prefix.len();
        let len = run(b, body, |c| r.charset.contains(c));
        let end = body + len;
        if len < r.min || len > r.max || !ends_word(b, end) {
            return None;
        }
        let ok = match &r.check {
            Check::None => true,
            Check::HasDigit => b[body..end].iter().any(u8::is_ascii_digit),
            Check::MixedCaseAndDigit => {
                let t = &b[body..end];
                t.iter().any(u8::is_ascii_digit)
                    && t.iter().any(u8::is_ascii_uppercase)
                    && t.iter().any(u8::is_ascii_lowercase)
            }
            // Spans end on ASCII bytes, so `i..end` is on char boundaries.
            Check::Custom(f) => s.get(i..end).is_some_and(|t| f(t)),
        };
        ok.then_some((if r.mask_prefix { i } else { body }, end))
    }

    /// Whether an integer field's digits are a card number (cards passed as `u64`).
    pub(crate) fn int_is_card(&self, v: i64) -> Option<Action> {
        let action = self.card?;
        let mut x = v.unsigned_abs();
        if x < 1_000_000_000_000 {
            return None;
        }
        let mut buf = [0u8; 20];
        let mut k = buf.len();
        while x > 0 {
            k -= 1;
            buf[k] = b'0' + (x % 10) as u8;
            x /= 10;
        }
        let digits = &buf[k..];
        match find_card(digits, 0) {
            Some((0, e)) if e == digits.len() => Some(action),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn run(b: &[u8], from: usize, f: impl Fn(u8) -> bool) -> usize {
    b.get(from..)
        .map_or(0, |t| t.iter().take_while(|&&c| f(c)).count())
}

/// A token ends at `end`: the text ends or the next byte is not an ASCII letter or digit.
fn ends_word(b: &[u8], end: usize) -> bool {
    b.get(end).is_none_or(|c| !c.is_ascii_alphanumeric())
}

fn starts_with_ignore_case(b: &[u8], at: usize, word: &[u8]) -> bool {
    b.get(at..at + word.len())
        .is_some_and(|t| t.eq_ignore_ascii_case(word))
}

fn b64_value(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    })
}

/// Decode base64 or base64url (padding optional) into `out`; returns the number of bytes
/// written, or `None` if a character is invalid. Stops when `out` is full.
fn b64_decode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut n = 0;
    for &c in input {
        if c == b'=' {
            break;
        }
        acc = (acc << 6) | u32::from(b64_value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if n == out.len() {
                return Some(n);
            }
            out[n] = (acc >> bits) as u8;
            n += 1;
        }
    }
    Some(n)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn find_from(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

// ---------------------------------------------------------------------------------------
// Cards
// ---------------------------------------------------------------------------------------

/// The Luhn check (ISO/IEC 7812-1) over decimal digit values.
///
/// Also used by the tests; public to the crate only.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Whether the digits start like a card of a major network (Visa, Mastercard, Amex,
/// Discover, JCB, Diners, UnionPay, Maestro, Mir, RuPay) and have a length it issues.
fn issuer_ok(d: &[u8]) -> bool {
    let len = d.len();
    let p2 = u16::from(d[0]) * 10 + u16::from(d[1]);
    let p4 = p2 * 100 + u16::from(d[2]) * 10 + u16::from(d[3]);
    match d[0] {
        4 => matches!(len, 13 | 16 | 19),
        5 => (50..=59).contains(&p2) && len >= 16,
        2 => ((2200..=2204).contains(&p4) || (2221..=2720).contains(&p4)) && len >= 16,
        3 => match p2 {
            34 | 37 => len == 15,
            30 | 36 | 38 | 39 => len >= 14,
            35 => len >= 16,
            _ => false,
        },
        6 => len >= 16,
        _ => false,
    }
}

/// The groupings cards are printed in: 4-4-4-4 (and 4-4-4-4-1..3 for 17 to 19 digits);
/// 4-6-5 (American Express) and 4-6-4 (Diners Club), which start with 3.
fn grouping_ok(sizes: &[usize], first_digit: u8) -> bool {
    match sizes {
        [4, 4, 4, 4] | [4, 4, 4, 4, 1..=3] => true,
        [4, 6, 4] | [4, 6, 5] => first_digit == 3,
        _ => false,
    }
}

fn card_valid(d: &[u8]) -> bool {
    (13..=19).contains(&d.len()) && issuer_ok(d) && luhn(d)
}

/// A card number starting at `i`: one run of 13-19 digits, or groups joined by single
/// spaces or dashes the way cards are printed (4-4-4-4, 4-4-4-4-3, 4-6-5, 4-6-4); the longest
/// run of whole groups that is a valid card.
fn find_card(b: &[u8], i: usize) -> Option<(usize, usize)> {
    const MAX_GROUPS: usize = 8;
    // A digit right before (e.g. after a `.` of a version) is not a boundary for numbers.
    if i > 0 && (b[i - 1] == b'.' || b[i - 1] == b',') && i > 1 && b[i - 2].is_ascii_digit() {
        return None;
    }
    let n = b.len();
    let mut digits = [0u8; 19];
    let mut nd = 0usize;
    let mut groups: [(usize, usize); MAX_GROUPS] = [(0, 0); MAX_GROUPS];
    let mut ng = 0usize;
    let mut sep: Option<u8> = None;
    let mut j = i;
    loop {
        let start = j;
        while j < n && b[j].is_ascii_digit() {
            if nd < digits.len() {
                digits[nd] = b[j] - b'0';
            }
            nd += 1;
            j += 1;
        }
        let glen = j - start;
        if ng < MAX_GROUPS {
            groups[ng] = (j, nd);
            ng += 1;
        }
        // Cards are printed 4-4-4-4, 4-4-4-4-3, 4-6-5 or 4-6-4: a group followed by
        // another has 4 digits, or 6 in second place.
        let group_ok = glen == 4 || (glen == 6 && ng == 2);
        let more = j + 1 < n
            && (b[j] == b' ' || b[j] == b'-')
            && b[j + 1].is_ascii_digit()
            && sep.is_none_or(|s| s == b[j])
            && group_ok
            && nd < 19
            && ng < MAX_GROUPS;
        if !more {
            break;
        }
        sep = Some(b[j]);
        j += 1;
    }
    if sep.is_none() {
        if nd > 19 || !ends_word(b, j) {
            return None;
        }
        return card_valid(&digits[..nd]).then_some((i, j));
    }
    for k in (1..ng).rev() {
        let (end, count) = groups[k];
        if count > 19 || !ends_word(b, end) {
            continue;
        }
        let mut sizes = [0usize; MAX_GROUPS];
        for g in 0..=k {
            sizes[g] = groups[g].1 - if g == 0 { 0 } else { groups[g - 1].1 };
        }
        if grouping_ok(&sizes[..=k], digits[0]) && card_valid(&digits[..count]) {
            return Some((i, end));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// US SSN
// ---------------------------------------------------------------------------------------

fn find_ssn(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let t = b.get(i..i + 11)?;
    let shape = t.iter().enumerate().all(|(k, &c)| match k {
        3 | 6 => c == b'-',
        _ => c.is_ascii_digit(),
    });
    if !shape || (i > 0 && b[i - 1] == b'-') {
        return None;
    }
    if let Some(&next) = b.get(i + 11) {
        if next.is_ascii_alphanumeric() || next == b'-' {
            return None;
        }
    }
    let num =
        |r: std::ops::Range<usize>| t[r].iter().fold(0u32, |a, &c| a * 10 + u32::from(c - b'0'));
    let (area, group, serial) = (num(0..3), num(4..6), num(7..11));
    let ok = area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
    ok.then_some((i, i + 11))
}

// ---------------------------------------------------------------------------------------
// IBAN
// ---------------------------------------------------------------------------------------

/// The IBAN length of a country (SWIFT IBAN registry), or 0.
fn iban_length(c1: u8, c2: u8) -> usize {
    const TABLE: &str = "AD24AE23AL28AT20AZ28BA20BE16BG22BH22BI27BR29BY28CH21CR22CY28CZ24DE22DJ27DK18DO28EE20EG29ES24FI18FK18FO18FR27GB22GE22GI23GL18GR27GT28HR21HU28IE22IL23IQ23IS26IT27JO30KW30KZ20LB28LC32LI21LT20LU20LV21LY25MC27MD24ME22MK19MN20MR27MT31MU30NI28NL18NO15OM23PK24PL28PS29PT25QA29RO24RS22RU33SA24SC31SD18SE24SI19SK24SM27SO23ST25SV28TL23TN24TR26UA29VA22VG24XK20YE30";
    TABLE
        .as_bytes()
        .chunks(4)
        .find(|c| c[0] == c1 && c[1] == c2)
        .map_or(0, |c| {
            usize::from(c[2] - b'0') * 10 + usize::from(c[3] - b'0')
        })
}

fn find_iban(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let head = b.get(i..i + 4)?;
    if !(head[0].is_ascii_uppercase()
        && head[1].is_ascii_uppercase()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
    {
        return None;
    }
    let want = iban_length(head[0], head[1]);
    if want == 0 {
        return None;
    }
    // Collect up to `want` characters, compact or in groups of four separated by spaces.
    let mut chars = [0u8; 34];
    let mut nc = 0;
    let mut j = i;
    let grouped = b.get(i + 4) == Some(&b' ');
    while j < b.len() && nc < want {
        let c = b[j];
        if c.is_ascii_uppercase() || c.is_ascii_digit() {
            chars[nc] = c;
            nc += 1;
            j += 1;
        } else if grouped && c == b' ' && nc % 4 == 0 && nc > 0 {
            j += 1;
        } else {
            break;
        }
    }
    if nc != want || !ends_word(b, j) {
        return None;
    }
    // mod 97 of the BBAN followed by the country code and check digits, letters as 10..35.
    let mut rem: u32 = 0;
    for &c in chars[4..nc].iter().chain(&chars[..4]) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            rem = (rem * 100 + u32::from(c - b'A') + 10) % 97;
        }
    }
    (rem == 1).then_some((i, j))
}

// ---------------------------------------------------------------------------------------
// JWT
// ---------------------------------------------------------------------------------------

fn is_b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn find_jwt(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !b[i..].starts_with(b"eyJ") {
        return None;
    }
    let h_len = run(b, i, is_b64url);
    let mut end = i + h_len;
    // Validate the header: base64url of a JSON object with "alg" (JWS) or "enc" (JWE).
    let mut head = [0u8; 384];
    let decoded = b64_decode(&b[i..end.min(i + 512)], &mut head)?;
    let head = &head[..decoded];
    if head.first() != Some(&b'{') || !contains(head, b"\"alg\"") {
        return None;
    }
    let segments = if contains(head, b"\"enc\"") { 5 } else { 3 };
    for k in 1..segments {
        if b.get(end) != Some(&b'.') {
            // `header.payload` with no signature part is not a JWS.
            return (k >= 3).then_some((i, end));
        }
        let len = run(b, end + 1, is_b64url);
        // The payload must be there; the signature may be empty (alg "none").
        if k == 1 && len < 2 {
            return None;
        }
        end += 1 + len;
    }
    ends_word(b, end).then_some((i, end))
}

// ---------------------------------------------------------------------------------------
// Authorization schemes
// ---------------------------------------------------------------------------------------

fn is_token68(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

/// After `scheme` at `i`: 1-4 spaces or tabs, then the credential's span.
fn after_scheme(b: &[u8], i: usize, scheme: &[u8]) -> Option<usize> {
    if !starts_with_ignore_case(b, i, scheme) {
        return None;
    }
    let sp = run(b, i + scheme.len(), |c| c == b' ' || c == b'\t');
    (1..=4).contains(&sp).then_some(i + scheme.len() + sp)
}

fn find_bearer(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let start = after_scheme(b, i, b"bearer")?;
    let len = run(b, start, is_token68);
    let end = start + len + run(b, start + len, |c| c == b'=');
    let token = &b[start..start + len];
    (len >= 8 && token.iter().any(u8::is_ascii_digit)).then_some((start, end))
}

fn find_basic(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let start = after_scheme(b, i, b"basic")?;
    let len = run(b, start, |c| {
        c.is_ascii_alphanumeric() || c == b'+' || c == b'/'
    });
    let pad = run(b, start + len, |c| c == b'=').min(2);
    let end = start + len + pad;
    if len < 8 || !ends_word(b, end) {
        return None;
    }
    let mut out = [0u8; 512];
    let n = b64_decode(&b[start..start + len], &mut out)?;
    let text = &out[..n];
    let printable = text.iter().all(|&c| c >= 0x20 && c != 0x7f);
    (printable && text.contains(&b':')).then_some((start, end))
}

// ---------------------------------------------------------------------------------------
// PEM
// ---------------------------------------------------------------------------------------

fn find_pem(b: &[u8], i: usize) -> Option<(usize, usize)> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    if !b[i..].starts_with(BEGIN) {
        return None;
    }
    let label_start = i + BEGIN.len();
    let label_len = run(b, label_start, |c| {
        c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' '
    });
    let label = &b[label_start..label_start + label_len];
    if label_len > 64 || !contains(label, b"PRIVATE KEY") {
        return None;
    }
    let after = label_start + label_len;
    if !b[after..].starts_with(b"-----") {
        return None;
    }
    // To the end of the END line; a block without one is masked to the end (fail closed).
    let end = find_from(b, after + 5, b"-----END ")
        .and_then(|e| find_from(b, e + 9, b"-----").map(|f| f + 5))
        .unwrap_or(b.len());
    Some((i, end))
}

// ---------------------------------------------------------------------------------------
// URL userinfo
// ---------------------------------------------------------------------------------------

fn find_url_password(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !b[i..].starts_with(b"://") || i == 0 || !b[i - 1].is_ascii_alphanumeric() {
        return None;
    }
    let from = i + 3;
    let auth_len = run(b, from, |c| {
        !(c <= b' '
            || matches!(
                c,
                b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'\\' | b'`' | b'{' | b'}' | b'|'
            ))
    });
    let authority = &b[from..from + auth_len];
    let at = authority.iter().rposition(|&c| c == b'@')?;
    let colon = authority[..at].iter().position(|&c| c == b':')?;
    (colon + 1 < at).then_some((from + colon + 1, from + at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Detectors {
        let enabled: Vec<(Detector, Action)> = Detector::ALL
            .iter()
            .map(|d| (*d, d.default_action()))
            .collect();
        Detectors::compile(&enabled, &[])
    }

    /// The secrets found in `s`, as text.
    fn found(s: &str) -> Vec<String> {
        let mut hits = Vec::new();
        all().scan(s, &mut hits);
        hits.iter().map(|h| s[h.start..h.end].to_owned()).collect()
    }

    fn one(s: &str, secret: &str) {
        assert_eq!(found(s), [secret], "in {s:?}");
    }

    fn none(s: &str) {
        assert!(found(s).is_empty(), "{s:?}: {:?}", found(s));
    }

    #[test]
    fn luhn_known_values() {
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn(&d("4111111111111111")));
        assert!(luhn(&d("79927398713")));
        assert!(!luhn(&d("4111111111111112")));
    }

    #[test]
    fn cards() {
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5555555555554444",
            "2223003122003222",
            "378282246310005",
            "3782 822463 10005",
            "3056 930902 5904",
            "6011111111111117",
            "3530111333300000",
            "30569309025904",
            "6200000000000005",
            "4000056655665556",
            "4111111111111111110",
        ] {
            one(&format!("paid with {card}."), card);
            one(card, card);
        }
        // A card followed by more numbers in the same grouping.
        one("card 4111 1111 1111 1111 2030 exp", "4111 1111 1111 1111");
    }

    #[test]
    fn card_near_misses() {
        none("4111111111111112"); // Luhn fails
        none("order 1234567812345670"); // Luhn ok, no issuer starts with 1
        none("9111111111111111"); // no issuer
        none("411111111111"); // too short
        none("41111111111111111111"); // too long (20 digits)
        none("x4111111111111111"); // not at a word start
        none("4111111111111111x");
        none("4111 1111  1111 1111"); // double space
        none("4111 1111-1111 1111"); // mixed separators
        none("1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6");
        none("56785 765 25194 931"); // Luhn-valid, issuer 5, but not a card's grouping
        none("411 111 111 111 1111");
        none("4882 147054 081"); // Luhn-valid Visa digits in an Amex-like grouping
        none("4111 1111 1111 1"); // 13 digits grouped: not a printed card
        none("2026-01-01T00:00:00.000000Z");
        none("v1.4111111111111111");
        none("550e8400-e29b-41d4-a716-446655440000");
    }

    #[test]
    fn integers_that_are_cards() {
        let d = all();
        assert_eq!(d.int_is_card(4111111111111111), Some(Action::Partial));
        assert_eq!(d.int_is_card(4111111111111112), None);
        assert_eq!(d.int_is_card(1767225600000000), None);
        assert_eq!(d.int_is_card(42), None);
    }

    #[test]
    fn jwts() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        one(&format!("token={jwt}"), jwt);
        one(&format!("{jwt}."), jwt);
        // alg none: empty signature.
        let unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.";
        one(unsigned, unsigned);
        // Header without alg, header that is not JSON, no signature part.
        none("eyJmb28iOiJiYXIifQ.eyJzdWIiOiJhIn0.abc");
        none("eyJxxxxxxxxxx.yyyy.zzzz");
        none("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0");
        none("theyJumped.over.it");
    }

    #[test]
    fn authorization_schemes() {
        one("Authorization: Bearer abc123DEF456", "abc123DEF456");
        one("bearer   0123456789abcdef==", "0123456789abcdef==");
        none("the bearer of this letter");
        none("Bearer token-based authentication");
        one("Basic dXNlcjpwYXNz", "dXNlcjpwYXNz");
        one("BASIC YWxpY2U6czNjcjN0IQ==,", "YWxpY2U6czNjcjN0IQ==");
        none("Basic authentication required");
        none("Basic aGVsbG8gd29ybGQ="); // "hello world": no ':'
    }

    #[test]
    fn aws_and_vendor_tokens() {
        one("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE");
        one("ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A");
        none("AKIAIOSFODNN7EXAMPL"); // 15 after the prefix
        none("AKIAIOSFODNN7EXAMPLEX"); // 17
        none("AKIAIOSFODNN7EXAMPLEx");
        let gh = format!("ghp_{}", "aB3".repeat(12));
        one(&format!("GITHUB_TOKEN={gh}"), &gh);
        none("ghp_short");
        let pat = format!("github_pat_{}", "11ABCDEFG_".repeat(8));
        one(&pat, &pat);
        one("glpat-AbCdEfGhIjKlMnOpQrSt", "glpat-AbCdEfGhIjKlMnOpQrSt");
        one(
            "xoxb-123456789012-abcdefABCDEF",
            "xoxb-123456789012-abcdefABCDEF",
        );
        none("xoxb-nodigitshere-only");
        let hook = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
        one(hook, "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX");
        one(
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        );
        one(
            "rk_test_abcdefghij0123456789",
            "rk_test_abcdefghij0123456789",
        );
        none("sk_live_short");
        let g = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY";
        one(&format!("?key={g}&x=1"), g);
        none("AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBW"); // 34
        one(
            "ya29.a0AfH6SMBxxxxxxxxxxxxxxxxxxx",
            "ya29.a0AfH6SMBxxxxxxxxxxxxxxxxxxx",
        );
        let oa = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z";
        one(oa, oa);
        none("sk-this-is-not-a-key-at-all-just-words");
        let npm = format!("npm_{}", "a1B2c3".repeat(6));
        one(&npm, &npm);
    }

    #[test]
    fn pem_blocks() {
        let pem =
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----";
        one(&format!("key: {pem} end"), pem);
        let escaped = r"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----";
        one(escaped, escaped);
        let cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk";
        one(cut, cut);
        none("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
        none("-----BEGIN PUBLIC KEY-----");
    }

    #[test]
    fn url_credentials() {
        one("postgres://app:s3cr3t@db:5432/x", "s3cr3t");
        one("redis://:pa55@cache", "pa55");
        one("https://u:p@ss:w@host/path?q=a@b", "p@ss:w");
        none("https://user@host/path");
        none("https://host/a:b@c");
        none("mailto:a@b.c");
        none("see ://x:y@z");
    }

    #[test]
    fn ssn_and_iban() {
        one("ssn 123-45-6789.", "123-45-6789");
        none("000-12-3456");
        none("666-12-3456");
        none("900-12-3456");
        none("123-00-4567");
        none("123-45-0000");
        none("1-123-45-6789");
        none("123-45-67890");
        one("IBAN DE89370400440532013000 ok", "DE89370400440532013000");
        one("GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32");
        none("DE89370400440532013001"); // mod 97
        none("DE8937040044053201300"); // length
        none("ZZ89370400440532013000"); // country
    }

    #[test]
    fn extra_detectors() {
        let extra = ExtraDetector::new("acme", "acme_")
            .charset(Charset::Hex)
            .length(8..=8)
            .validator(|t| t != "acme_00000000");
        let d = Detectors::compile(&[], &[extra]);
        let scan = |s: &str| {
            let mut hits = Vec::new();
            d.scan(s, &mut hits);
            hits.iter()
                .map(|h| s[h.start..h.end].to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(scan("k=acme_deadBEEF;"), ["acme_deadBEEF"]);
        assert!(scan("acme_00000000").is_empty());
        assert!(scan("acme_deadbeef0").is_empty());
        assert!(scan("xacme_deadbeef").is_empty());
    }

    /// `may_match` is a necessary condition of `scan` finding anything, for every detector
    /// alone (where the prefilter is sharpest) and all together.
    #[test]
    fn the_prefilter_never_hides_a_hit() {
        let secrets = [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "3782 822463 10005",
            "123-45-6789",
            "DE89370400440532013000",
            "GB82 WEST 1234 5698 7654 32",
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.",
            "Bearer abc123DEF456",
            "bearer\t0123456789abcdef==",
            "Basic dXNlcjpwYXNz",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
            "postgres://app:s3cr3t@db:5432/x",
            "a://:p@h",
            "AKIAIOSFODNN7EXAMPLE",
            "xoxb-123456789012-abcdefABCDEF",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
            "ya29.a0AfH6SMBxxxxxxxxxxxxxxxxxxx",
            "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
            "glpat-AbCdEfGhIjKlMnOpQrSt",
        ];
        let alphabet = b"0123456789 -.:/@eyJBbaskAIZG=_\t";
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut texts: Vec<String> = Vec::new();
        for s in secrets {
            texts.push(s.to_owned());
            texts.push(format!("x {s} y"));
            // Every cut and every one-byte change of the secret.
            for cut in 0..s.len() {
                texts.push(s[..cut].to_owned());
                texts.push(s[cut..].to_owned());
                let mut b = s.as_bytes().to_vec();
                b[cut] = alphabet[(next() % alphabet.len() as u64) as usize];
                texts.push(String::from_utf8(b).unwrap());
            }
        }
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let t: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            texts.push(String::from_utf8(t).unwrap());
        }
        let mut policies: Vec<Detectors> = Detector::ALL
            .iter()
            .map(|d| Detectors::compile(&[(*d, d.default_action())], &[]))
            .collect();
        policies.push(all());
        policies.push(Detectors::compile(
            &[],
            &[ExtraDetector::new("x", "4").length(1..=4)],
        ));
        let mut found = 0;
        for d in &policies {
            for t in &texts {
                let mut hits = Vec::new();
                d.scan(t, &mut hits);
                if !hits.is_empty() {
                    found += 1;
                    assert!(d.may_match(t), "{t:?}: {hits:?}");
                }
            }
        }
        assert!(found > 1000, "{found}");
    }

    #[test]
    fn never_panics_on_truncated_candidates() {
        let d = all();
        for s in [
            "eyJ",
            "eyJhbGciOiJIUzI1NiJ9.",
            "Bearer",
            "Basic ",
            "-----BEGIN ",
            "://",
            "a://",
            "a://b:c@",
            "4",
            "4111 ",
            "AKIA",
            "DE",
            "DE89",
            "123-45-",
            "GB82 ",
        ] {
            for cut in 0..=s.len() {
                let mut hits = Vec::new();
                d.scan(&s[..cut], &mut hits);
            }
        }
    }
}
