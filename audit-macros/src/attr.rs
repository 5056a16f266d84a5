//! Parsing of the options shared by `#[audited(...)]` and `audit_event!(...)`.
//!
//! Parsing never stops at the first mistake: every error is pushed to a
//! [`Ctxt`] and parsing resumes at the next top-level `,`, so that all
//! problems are reported in one go, each spanned at the offending tokens.

use std::fmt::Display;

use proc_macro2::{Span, TokenTree};
use quote::ToTokens as _;
use syn::ext::IdentExt as _;
use syn::parse::{ParseBuffer, ParseStream, Parser as _};
use syn::spanned::Spanned as _;
use syn::{Expr, Ident, LitInt, LitStr, Path, Token};

use crate::ctxt::Ctxt;

/// Every option `#[audited]` understands, in the order they are documented.
pub(crate) const AUDITED_OPTIONS: &[&str] = &[
    "event",
    "actor",
    "resource",
    "fields",
    "skip",
    "skip_all",
    "redact",
    "level",
    "name",
    "parent",
    "follows_from",
    "crate",
];

/// Every option `audit_event!` understands.
pub(crate) const EVENT_OPTIONS: &[&str] = &[
    "event", "outcome", "reason", "actor", "resource", "fields", "crate",
];

/// The outcomes `audit_event!(outcome = "...")` accepts, with the name of the
/// matching `Outcome` variant.
pub(crate) const OUTCOMES: &[(&str, &str)] = &[
    ("success", "Success"),
    ("failure", "Failure"),
    ("denied", "Denied"),
    ("cancelled", "Cancelled"),
    ("unknown", "Unknown"),
];

/// How a value is turned into an audit value: `%expr`, `?expr` or `expr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sigil {
    /// No sigil: `AsAuditValue` (`__private::value`).
    Value,
    /// `%`: `Display` (`__private::display`).
    Display,
    /// `?`: `Debug` (`__private::debug`).
    Debug,
}

/// `actor = ...`, `resource = ...`.
#[derive(Clone, Debug)]
pub(crate) struct ValueExpr {
    pub(crate) sigil: Sigil,
    pub(crate) expr: Expr,
}

/// A validated event name, e.g. `"auth.login"`.
#[derive(Clone, Debug)]
pub(crate) struct EventName {
    pub(crate) lit: LitStr,
}

/// The name of a `fields(...)` entry.
#[derive(Clone, Debug)]
pub(crate) struct FieldName {
    /// The name as recorded: dotted segments joined with `.`, raw idents unrawed.
    pub(crate) text: String,
    pub(crate) span: Span,
    /// The name's tokens, to span errors over all of them.
    pub(crate) tokens: proc_macro2::TokenStream,
    /// `Some` when the name is one plain identifier (it may then shadow a
    /// parameter of the same name).
    pub(crate) single_ident: Option<Ident>,
}

/// The value of a `fields(...)` entry.
#[derive(Clone, Debug)]
pub(crate) enum FieldValue {
    /// `name = expr`, `name = %expr`, `name = ?expr`, or the shorthand `name`.
    Expr(ValueExpr),
    /// `name = Empty`: declared now, recorded later.
    Empty(Span),
}

#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) name: FieldName,
    pub(crate) value: FieldValue,
}

/// `level = ...`
#[derive(Clone, Debug)]
pub(crate) enum Level {
    /// One of `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, spanned where the
    /// user wrote it.
    Known(&'static str, Span),
    /// Any other path (e.g. a constant); emitted verbatim.
    Path(Path),
}

/// The parsed options of `#[audited(...)]`.
#[derive(Default, Debug)]
pub(crate) struct AuditedArgs {
    pub(crate) event: Option<EventName>,
    pub(crate) actor: Option<ValueExpr>,
    pub(crate) resource: Option<ValueExpr>,
    pub(crate) fields: Vec<Field>,
    pub(crate) skips: Vec<Ident>,
    /// The `skip_all` keyword, when given.
    pub(crate) skip_all: Option<Ident>,
    pub(crate) redacts: Vec<Ident>,
    pub(crate) level: Option<Level>,
    pub(crate) name: Option<LitStr>,
    pub(crate) parent: Option<Expr>,
    pub(crate) follows_from: Option<Expr>,
    pub(crate) krate: Option<Path>,
}

/// The parsed options of `audit_event!(...)`.
#[derive(Default, Debug)]
pub(crate) struct EventArgs {
    pub(crate) event: Option<EventName>,
    /// The `Outcome` variant name, e.g. `"Denied"`, and where it was written.
    pub(crate) outcome: Option<(&'static str, Span)>,
    pub(crate) reason: Option<Expr>,
    pub(crate) actor: Option<ValueExpr>,
    pub(crate) resource: Option<ValueExpr>,
    pub(crate) fields: Vec<Field>,
    pub(crate) krate: Option<Path>,
}

// ---------------------------------------------------------------------------
// Event names
// ---------------------------------------------------------------------------

/// The rule, as shown in error messages.
pub(crate) const EVENT_NAME_RULE: &str = "an event name is at least two `.`-separated \
     segments, each starting with a lowercase ASCII letter and made only of `a-z`, `0-9` \
     and `_`, e.g. \"auth.login\" or \"user.password_reset\"";

/// Checks an event name against [`EVENT_NAME_RULE`]; on failure returns what
/// is wrong with it (without the rule itself).
pub(crate) fn check_event_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the event name is empty".to_owned());
    }
    let segments: Vec<&str> = name.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let Some(first) = segment.chars().next() else {
            return Err(format!("segment {} is empty", i + 1));
        };
        if let Some(bad) = segment
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_'))
        {
            return Err(if bad.is_ascii_uppercase() {
                format!("segment `{segment}` contains the uppercase letter `{bad}`")
            } else {
                format!("segment `{segment}` contains the character {bad:?}")
            });
        }
        if !first.is_ascii_lowercase() {
            return Err(format!("segment `{segment}` does not start with a letter"));
        }
    }
    if segments.len() < 2 {
        return Err("it has a single segment".to_owned());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// Parses the arguments of `#[audited(...)]`, recording every problem in `cx`.
/// Problems that need the function (unknown parameters, ...) are checked later.
pub(crate) fn parse_audited_args(tokens: proc_macro2::TokenStream, cx: &Ctxt) -> AuditedArgs {
    parse_args(
        tokens,
        cx,
        ("#[audited]", AUDITED_OPTIONS),
        "`#[audited(event = \"auth.login\")]`",
        audited_option,
    )
}

/// Parses the input of `audit_event!(...)`, recording every problem in `cx`.
pub(crate) fn parse_event_args(tokens: proc_macro2::TokenStream, cx: &Ctxt) -> EventArgs {
    parse_args(
        tokens,
        cx,
        ("audit_event!", EVENT_OPTIONS),
        "`audit_event!(event = \"session.timeout\")`",
        event_option,
    )
}

/// The option list of `what` (a macro, and the options it knows), each option given to
/// `on_option`; `event` is required (`example` shows it).
fn parse_args<A: Default>(
    tokens: proc_macro2::TokenStream,
    cx: &Ctxt,
    (what, options): (&str, &[&str]),
    example: &str,
    on_option: impl Fn(&mut A, &Ident, ParseStream<'_>, &Ctxt) -> syn::Result<()>,
) -> A {
    let mut args = A::default();
    let mut event_given = false;
    let parser = |input: ParseStream<'_>| {
        parse_option_list(input, cx, what, options, |name, input| {
            event_given |= name == "event";
            on_option(&mut args, name, input, cx)
        });
        Ok(())
    };
    if let Err(err) = parser.parse2(tokens) {
        cx.push(err);
    }
    // An invalid `event = ...` was already reported: do not also call it missing.
    if !event_given {
        cx.error_at(
            Span::call_site(),
            format!("missing required option `event`, e.g. {example}"),
        );
    }
    args
}

// ---------------------------------------------------------------------------
// The option loop
// ---------------------------------------------------------------------------

/// Parses `name [= value | (...)] , ...` until the end of `input`, calling
/// `on_option` for each known, non-duplicate option. Unknown and duplicate
/// options, and errors returned by `on_option`, are recorded and skipped.
fn parse_option_list(
    input: ParseStream<'_>,
    cx: &Ctxt,
    macro_name: &str,
    valid: &[&str],
    mut on_option: impl FnMut(&Ident, ParseStream<'_>) -> syn::Result<()>,
) {
    let mut seen: Vec<String> = Vec::new();
    parse_comma_separated(input, cx, "options", |input| {
        parse_one_option(input, cx, macro_name, valid, &mut seen, &mut on_option)
    });
}

fn parse_one_option(
    input: ParseStream<'_>,
    cx: &Ctxt,
    macro_name: &str,
    valid: &[&str],
    seen: &mut Vec<String>,
    on_option: &mut impl FnMut(&Ident, ParseStream<'_>) -> syn::Result<()>,
) -> syn::Result<()> {
    if !input.peek(Ident::peek_any) {
        return Err(input.error(format!(
            "expected an option name; `{macro_name}` accepts {}",
            list(valid)
        )));
    }
    let name = input.call(Ident::parse_any)?;
    let key = name.unraw().to_string();
    if !valid.contains(&key.as_str()) {
        let hint = match unknown_option_hint(&key, macro_name) {
            "" => similar_option(&key, valid)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default(),
            hint => hint.to_owned(),
        };
        cx.error_at(
            name.span(),
            format!(
                "unknown option `{key}` for `{macro_name}`{hint}; expected one of {}",
                list(valid)
            ),
        );
        skip_to_comma(input);
        return Ok(());
    }
    if seen.contains(&key) {
        cx.error_at(
            name.span(),
            format!("duplicate option `{key}`: it may be given only once"),
        );
        skip_to_comma(input);
        return Ok(());
    }
    seen.push(key);
    on_option(&name, input)
}

/// Extra help for options people are likely to try.
fn unknown_option_hint(key: &str, macro_name: &str) -> &'static str {
    match key {
        "target" => " (audit spans always use the `audit` target)",
        "err" | "ret" => {
            " (the outcome is always derived from the return value: an `Err` is recorded as a failure)"
        }
        "outcome" | "reason" if macro_name == "#[audited]" => {
            " (`outcome` and `reason` are `audit_event!` options; `#[audited]` derives the outcome from the return value)"
        }
        "skip" | "skip_all" | "redact" | "level" | "name" | "parent" | "follows_from"
            if macro_name == "audit_event!" =>
        {
            " (that is an `#[audited]` option)"
        }
        "field" => " (did you mean `fields(...)`?)",
        "skips" => " (did you mean `skip(...)`?)",
        "redacted" | "redacts" => " (did you mean `redact(...)`?)",
        "user" | "subject" => " (the acting user is given with `actor = ...`)",
        "object" | "target_resource" => " (did you mean `resource = ...`?)",
        _ => "",
    }
}

/// A valid option within two edits of `key` (a likely typo), if any.
fn similar_option<'a>(key: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (edit_distance(key, v), *v))
        .filter(|(d, v)| *d <= 2 && *d < v.len().min(key.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// Levenshtein distance, on chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn list(valid: &[&str]) -> String {
    valid
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `item, item, ...` up to the end of `input` (a trailing `,` is
/// allowed), handing each item to `parse_item`, which must consume it.
///
/// Nothing stops the loop: when `parse_item` fails, its error is recorded in
/// `cx` and the rest of that item is skipped up to the next top-level `,`.
/// When an item is followed by something other than `,` or the end, the error
/// "expected `,` between {items}" is recorded at that token, and everything up
/// to and including the next `,` is skipped. Parsing resumes with the next item.
fn parse_comma_separated(
    input: ParseStream<'_>,
    cx: &Ctxt,
    items: &str,
    mut parse_item: impl FnMut(ParseStream<'_>) -> syn::Result<()>,
) {
    while !input.is_empty() {
        if let Err(err) = parse_item(input) {
            cx.push(err);
            skip_to_comma(input);
        }
        if input.is_empty() {
            break;
        }
        if input.peek(Token![,]) {
            let _comma: Token![,] = input.parse().expect("peeked");
        } else {
            cx.error_at(input.span(), format!("expected `,` between {items}"));
            skip_to_comma(input);
            let _ = input.parse::<Option<Token![,]>>();
        }
    }
}

/// Skips token trees up to (not including) the next top-level `,`.
fn skip_to_comma(input: ParseStream<'_>) {
    while !input.is_empty() && !input.peek(Token![,]) {
        if input.parse::<TokenTree>().is_err() {
            break;
        }
    }
}

// ---------------------------------------------------------------------------
// Per-option parsing
// ---------------------------------------------------------------------------

fn audited_option(
    args: &mut AuditedArgs,
    name: &Ident,
    input: ParseStream<'_>,
    cx: &Ctxt,
) -> syn::Result<()> {
    match name.unraw().to_string().as_str() {
        "event" => args.event = parse_event_name(name, input, cx)?,
        "actor" => args.actor = Some(parse_value_expr(name, input)?),
        "resource" => args.resource = Some(parse_value_expr(name, input)?),
        "fields" => args.fields = parse_fields(name, input, cx, true)?,
        "skip" => {
            if args.skip_all.is_some() {
                cx.error_at(
                    name.span(),
                    "`skip(...)` cannot be combined with `skip_all`, which already skips every parameter",
                );
            }
            args.skips = parse_ident_list(name, input, cx)?;
        }
        "skip_all" => {
            if !args.skips.is_empty() {
                cx.error_at(
                    name.span(),
                    "`skip_all` cannot be combined with `skip(...)`; use one or the other",
                );
            }
            if input.peek(Token![=]) || input.peek(syn::token::Paren) {
                return Err(syn::Error::new(
                    input.span(),
                    "`skip_all` takes no value; write `skip(a, b)` to skip some parameters",
                ));
            }
            args.skip_all = Some(name.clone());
        }
        "redact" => args.redacts = parse_ident_list(name, input, cx)?,
        "level" => args.level = Some(parse_level(name, input)?),
        "name" => {
            expect_eq(name, input)?;
            let lit = parse_lit_str(name, input, "a string literal such as \"login\"")?;
            if lit.value().is_empty() {
                cx.error_at(lit.span(), "the span `name` must not be empty");
            }
            args.name = Some(lit);
        }
        "parent" => {
            args.parent = Some(parse_expr_value(
                name,
                input,
                "a parent span, `Id` or `None`",
            )?);
        }
        "follows_from" => {
            args.follows_from = Some(parse_expr_value(
                name,
                input,
                "a cause: a `&Span`, an `Id` or an `Option<Id>`",
            )?);
        }
        "crate" => args.krate = Some(parse_crate_path(name, input)?),
        other => unreachable!("option `{other}` is listed but not handled"),
    }
    Ok(())
}

fn event_option(
    args: &mut EventArgs,
    name: &Ident,
    input: ParseStream<'_>,
    cx: &Ctxt,
) -> syn::Result<()> {
    match name.unraw().to_string().as_str() {
        "event" => args.event = parse_event_name(name, input, cx)?,
        "outcome" => {
            expect_eq(name, input)?;
            let lit = parse_lit_str(
                name,
                input,
                "one of \"success\", \"failure\", \"denied\", \"cancelled\" or \"unknown\"",
            )?;
            let value = lit.value();
            match OUTCOMES.iter().find(|(text, _)| *text == value) {
                Some((_, variant)) => args.outcome = Some((variant, lit.span())),
                None => cx.error_at(
                    lit.span(),
                    format!(
                        "unknown outcome {value:?}; expected one of \"success\", \"failure\", \"denied\", \"cancelled\" or \"unknown\""
                    ),
                ),
            }
        }
        "reason" => {
            args.reason = Some(parse_expr_value(
                name,
                input,
                "an expression implementing `Display`",
            )?);
        }
        "actor" => args.actor = Some(parse_value_expr(name, input)?),
        "resource" => args.resource = Some(parse_value_expr(name, input)?),
        "fields" => args.fields = parse_fields(name, input, cx, false)?,
        "crate" => args.krate = Some(parse_crate_path(name, input)?),
        other => unreachable!("option `{other}` is listed but not handled"),
    }
    Ok(())
}

fn expect_eq(name: &Ident, input: ParseStream<'_>) -> syn::Result<()> {
    if input.peek(Token![=]) {
        let _eq: Token![=] = input.parse()?;
        Ok(())
    } else {
        Err(syn::Error::new(
            if input.is_empty() {
                name.span()
            } else {
                input.span()
            },
            format!("expected `=` after `{}`", name.unraw()),
        ))
    }
}

/// Parses a string literal; anything else is reported at the whole expression.
fn parse_lit_str(name: &Ident, input: ParseStream<'_>, what: &str) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        return input.parse();
    }
    if input.is_empty() || input.peek(Token![,]) {
        return Err(syn::Error::new(
            name.span(),
            format!("`{}` needs a value: {what}", name.unraw()),
        ));
    }
    let expr: Expr = input.parse()?;
    Err(syn::Error::new_spanned(
        expr,
        format!("`{}` must be {what}", name.unraw()),
    ))
}

fn parse_event_name(
    name: &Ident,
    input: ParseStream<'_>,
    cx: &Ctxt,
) -> syn::Result<Option<EventName>> {
    expect_eq(name, input)?;
    let lit = parse_lit_str(name, input, "a string literal such as \"auth.login\"")?;
    match check_event_name(&lit.value()) {
        Ok(()) => Ok(Some(EventName { lit })),
        Err(problem) => {
            cx.error_at(
                lit.span(),
                format!(
                    "invalid event name {:?}: {problem}; {EVENT_NAME_RULE}",
                    lit.value()
                ),
            );
            Ok(None)
        }
    }
}

/// `name = <expr>`.
fn parse_expr_value(name: &Ident, input: ParseStream<'_>, what: &str) -> syn::Result<Expr> {
    expect_eq(name, input)?;
    if input.is_empty() || input.peek(Token![,]) {
        return Err(syn::Error::new(
            name.span(),
            format!("`{}` needs a value: {what}", name.unraw()),
        ));
    }
    input.parse()
}

fn parse_sigil(input: ParseStream<'_>) -> syn::Result<Option<(Sigil, Span)>> {
    if input.peek(Token![%]) {
        let tok: Token![%] = input.parse()?;
        Ok(Some((Sigil::Display, tok.span)))
    } else if input.peek(Token![?]) {
        let tok: Token![?] = input.parse()?;
        Ok(Some((Sigil::Debug, tok.span)))
    } else {
        Ok(None)
    }
}

fn parse_value_expr(name: &Ident, input: ParseStream<'_>) -> syn::Result<ValueExpr> {
    expect_eq(name, input)?;
    let sigil = parse_sigil(input)?.map_or(Sigil::Value, |(s, _)| s);
    if input.is_empty() || input.peek(Token![,]) {
        return Err(syn::Error::new(
            name.span(),
            format!(
                "`{}` needs a value: `{0} = %expr` (Display), `{0} = ?expr` (Debug) or `{0} = expr`",
                name.unraw()
            ),
        ));
    }
    let expr: Expr = input.parse()?;
    Ok(ValueExpr { sigil, expr })
}

fn parse_crate_path(name: &Ident, input: ParseStream<'_>) -> syn::Result<Path> {
    expect_eq(name, input)?;
    if input.peek(LitStr) {
        // serde-style `crate = "path"`.
        let lit: LitStr = input.parse()?;
        return lit.parse_with(Path::parse_mod_style).map_err(|_| {
            syn::Error::new(
                lit.span(),
                "`crate` must be a path such as `::my_crate::audit`",
            )
        });
    }
    input.call(Path::parse_mod_style).map_err(|err| {
        syn::Error::new(
            err.span(),
            "`crate` must be a path such as `::my_crate::audit` (the crate, or module, that re-exports `audit_layer`)",
        )
    })
}

/// The identifiers of `path`'s segments, in order, without generic arguments
/// or leading `::` (`::std::string::String` gives `["std", "string", "String"]`).
pub(crate) fn segment_names(path: &Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

fn parse_level(name: &Ident, input: ParseStream<'_>) -> syn::Result<Level> {
    const EXPECTED: &str = "expected \"trace\", \"debug\", \"info\", \"warn\", \"error\", \
         a number from 1 (trace) to 5 (error), or a path such as `Level::INFO`";
    expect_eq(name, input)?;
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        let level = match lit.value().to_ascii_lowercase().as_str() {
            "trace" => "TRACE",
            "debug" => "DEBUG",
            "info" => "INFO",
            "warn" => "WARN",
            "error" => "ERROR",
            _ => {
                return Err(syn::Error::new(
                    lit.span(),
                    format!("unknown level {:?}; {EXPECTED}", lit.value()),
                ))
            }
        };
        return Ok(Level::Known(level, lit.span()));
    }
    if input.peek(LitInt) {
        let lit: LitInt = input.parse()?;
        let level = match lit.base10_parse::<u64>() {
            Ok(1) => "TRACE",
            Ok(2) => "DEBUG",
            Ok(3) => "INFO",
            Ok(4) => "WARN",
            Ok(5) => "ERROR",
            _ => {
                return Err(syn::Error::new(
                    lit.span(),
                    format!("unknown level `{lit}`; {EXPECTED}"),
                ))
            }
        };
        return Ok(Level::Known(level, lit.span()));
    }
    if input.is_empty() || input.peek(Token![,]) {
        return Err(syn::Error::new(
            name.span(),
            format!("`level` needs a value: {EXPECTED}"),
        ));
    }
    match input.parse::<Expr>()? {
        Expr::Path(p) if p.qself.is_none() => {
            let known = match segment_names(&p.path).as_slice() {
                [.., level_ty, lvl] if level_ty == "Level" => match lvl.as_str() {
                    "TRACE" => Some("TRACE"),
                    "DEBUG" => Some("DEBUG"),
                    "INFO" => Some("INFO"),
                    "WARN" => Some("WARN"),
                    "ERROR" => Some("ERROR"),
                    _ => None,
                },
                _ => None,
            };
            match known {
                Some(level) => Ok(Level::Known(level, p.span())),
                None => Ok(Level::Path(p.path)),
            }
        }
        other => Err(syn::Error::new_spanned(
            other,
            format!("invalid level; {EXPECTED}"),
        )),
    }
}

/// The `(...)` that follows the option `name` (as in `skip(a, b)`): its
/// parentheses and a stream over what they hold.
///
/// When no `(` follows, nothing is consumed and the error `expected` is
/// returned, pointed at the token that stands there instead, or at `name`
/// when there is none (the input ends or the next `,` follows).
fn parenthesized_value<'a>(
    name: &Ident,
    input: ParseStream<'a>,
    expected: impl Display,
) -> syn::Result<(syn::token::Paren, ParseBuffer<'a>)> {
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            if input.is_empty() || input.peek(Token![,]) {
                name.span()
            } else {
                input.span()
            },
            expected,
        ));
    }
    let content;
    let paren = syn::parenthesized!(content in input);
    Ok((paren, content))
}

/// `skip(a, b)` / `redact(a, b)`: a parenthesized list of parameter names.
fn parse_ident_list(name: &Ident, input: ParseStream<'_>, cx: &Ctxt) -> syn::Result<Vec<Ident>> {
    let key = name.unraw().to_string();
    let (paren, content) = parenthesized_value(
        name,
        input,
        format!("expected a list of parameter names: `{key}(a, b)`"),
    )?;
    let mut idents: Vec<Ident> = Vec::new();
    parse_comma_separated(&content, cx, "parameter names", |content| {
        if !content.peek(Ident::peek_any) {
            return Err(syn::Error::new(
                content.span(),
                format!("expected a parameter name in `{key}(...)`"),
            ));
        }
        let ident = content.call(Ident::parse_any)?;
        if idents.iter().any(|i| i.unraw() == ident.unraw()) {
            cx.error_at(
                ident.span(),
                format!("`{}` is listed twice in `{key}(...)`", ident.unraw()),
            );
        } else {
            idents.push(ident);
        }
        Ok(())
    });
    if idents.is_empty() && !cx.has_errors() {
        cx.error_at(
            paren.span.join(),
            format!("`{key}()` is empty; name at least one parameter or remove it"),
        );
    }
    Ok(idents)
}

/// `fields(...)`. `allow_empty` is false for `audit_event!`, which has no span
/// to record an `Empty` field into later.
fn parse_fields(
    name: &Ident,
    input: ParseStream<'_>,
    cx: &Ctxt,
    allow_empty: bool,
) -> syn::Result<Vec<Field>> {
    let (_paren, content) = parenthesized_value(
        name,
        input,
        "expected a parenthesized list: `fields(name = %value, other = ?value, bare_name)`",
    )?;
    let mut fields: Vec<Field> = Vec::new();
    parse_comma_separated(&content, cx, "fields", |content| {
        let field = parse_field(content, allow_empty)?;
        if fields.iter().any(|f| f.name.text == field.name.text) {
            cx.push(syn::Error::new_spanned(
                &field.name.tokens,
                format!("duplicate field `{}`", field.name.text),
            ));
        } else {
            fields.push(field);
        }
        Ok(())
    });
    Ok(fields)
}

fn parse_field(input: ParseStream<'_>, allow_empty: bool) -> syn::Result<Field> {
    let leading = parse_sigil(input)?;
    let name = parse_field_name(input)?;
    if !input.peek(Token![=]) {
        // Shorthand: `x` means `x = x` (and `%x` means `x = %x`).
        let Some(ident) = name.single_ident.clone() else {
            return Err(syn::Error::new_spanned(
                &name.tokens,
                format!(
                    "field `{}` needs a value: the shorthand `name` (meaning `name = name`) works only for a single identifier; write `\"{0}\" = value`{}",
                    name.text,
                    if allow_empty {
                        ", or `= Empty` to fill it in later with `audit_layer::record`"
                    } else {
                        ""
                    }
                ),
            ));
        };
        let sigil = leading.map_or(Sigil::Value, |(s, _)| s);
        let expr = Expr::Path(syn::ExprPath {
            attrs: Vec::new(),
            qself: None,
            path: Path::from(ident),
        });
        return Ok(Field {
            name,
            value: FieldValue::Expr(ValueExpr { sigil, expr }),
        });
    }
    let _eq: Token![=] = input.parse()?;
    let trailing = parse_sigil(input)?;
    if let (Some(_), Some((_, span))) = (leading, trailing) {
        return Err(syn::Error::new(
            span,
            "give `%` or `?` only once, before the value",
        ));
    }
    if input.is_empty() || input.peek(Token![,]) {
        return Err(syn::Error::new_spanned(
            &name.tokens,
            format!("field `{}` needs a value after `=`", name.text),
        ));
    }
    let expr: Expr = input.parse()?;
    let sigil = leading.or(trailing).map(|(s, _)| s);
    if let Expr::Path(p) = &expr {
        if p.qself.is_none() && p.attrs.is_empty() && p.path.is_ident("Empty") {
            if !allow_empty {
                return Err(syn::Error::new_spanned(
                    &expr,
                    "`Empty` fields are only meaningful on `#[audited]` functions (filled in later with `audit_layer::record`); an `audit_event!` is emitted at once, so give the value",
                ));
            }
            if let Some(sigil) = sigil {
                let _ = sigil;
                return Err(syn::Error::new_spanned(
                    &expr,
                    "`Empty` takes no `%` or `?`: it only declares the field",
                ));
            }
            return Ok(Field {
                name,
                value: FieldValue::Empty(expr.span()),
            });
        }
    }
    Ok(Field {
        name,
        value: FieldValue::Expr(ValueExpr {
            sigil: sigil.unwrap_or(Sigil::Value),
            expr,
        }),
    })
}

fn parse_field_name(input: ParseStream<'_>) -> syn::Result<FieldName> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        let text = lit.value();
        if text.is_empty() || text.split('.').any(str::is_empty) {
            return Err(syn::Error::new(
                lit.span(),
                "a field name must be non-empty and must not have empty `.`-separated segments",
            ));
        }
        return Ok(FieldName {
            text,
            span: lit.span(),
            tokens: lit.to_token_stream(),
            single_ident: None,
        });
    }
    if !input.peek(Ident::peek_any) {
        return Err(input.error(
            "expected a field name: an identifier, a dotted name like `source.ip`, or a string literal",
        ));
    }
    let first = input.call(Ident::parse_any)?;
    let mut text = first.unraw().to_string();
    let mut tokens = first.to_token_stream();
    let mut dotted = false;
    while input.peek(Token![.]) {
        let dot: Token![.] = input.parse()?;
        let next = input.call(Ident::parse_any)?;
        text.push('.');
        text.push_str(&next.unraw().to_string());
        dot.to_tokens(&mut tokens);
        next.to_tokens(&mut tokens);
        dotted = true;
    }
    Ok(FieldName {
        text,
        span: first.span(),
        tokens,
        single_ident: (!dotted).then_some(first),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn audited(tokens: proc_macro2::TokenStream) -> (AuditedArgs, Vec<String>) {
        let cx = Ctxt::new();
        let args = parse_audited_args(tokens, &cx);
        let errors = match cx.check() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        };
        (args, errors)
    }

    fn event(tokens: proc_macro2::TokenStream) -> (EventArgs, Vec<String>) {
        let cx = Ctxt::new();
        let args = parse_event_args(tokens, &cx);
        let errors = match cx.check() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        };
        (args, errors)
    }

    #[test]
    fn valid_event_names() {
        for name in [
            "auth.login",
            "a.b",
            "user.password_reset",
            "a1.b2.c_3",
            "x.y_",
        ] {
            assert_eq!(check_event_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn invalid_event_names() {
        let cases = [
            ("", "empty"),
            ("login", "single segment"),
            ("auth.", "segment 2 is empty"),
            (".auth", "segment 1 is empty"),
            ("auth..login", "segment 2 is empty"),
            ("Auth.login", "uppercase letter `A`"),
            ("auth.Login", "uppercase letter `L`"),
            ("auth.1login", "does not start with a letter"),
            ("auth._login", "does not start with a letter"),
            ("auth.log-in", "'-'"),
            ("auth.log in", "' '"),
            ("auth.lögin", "'ö'"),
        ];
        for (name, expected) in cases {
            let err = check_event_name(name).expect_err(name);
            assert!(err.contains(expected), "{name}: {err}");
        }
    }

    #[test]
    fn event_name_error_states_the_rule() {
        let (_, errors) = audited(quote!(event = "Auth.Login"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("invalid event name \"Auth.Login\""));
        assert!(errors[0].contains(EVENT_NAME_RULE));
    }

    #[test]
    fn parses_every_option() {
        let (args, errors) = audited(quote!(
            event = "auth.login",
            actor = %email,
            resource = ?account,
            fields(method = "password", source.ip = %ip, "http.status" = ?st, user.id = Empty, bare, %shown, r#type = 1),
            skip(password),
            redact(token, r#ref),
            level = "Warn",
            name = "login",
            parent = None,
            follows_from = cause,
            crate = ::my::reexport,
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(args.event.unwrap().lit.value(), "auth.login");
        assert_eq!(args.actor.unwrap().sigil, Sigil::Display);
        assert_eq!(args.resource.unwrap().sigil, Sigil::Debug);
        let names: Vec<&str> = args.fields.iter().map(|f| f.name.text.as_str()).collect();
        assert_eq!(
            names,
            [
                "method",
                "source.ip",
                "http.status",
                "user.id",
                "bare",
                "shown",
                "type"
            ]
        );
        assert!(matches!(args.fields[3].value, FieldValue::Empty(_)));
        assert!(matches!(
            &args.fields[4].value,
            FieldValue::Expr(ValueExpr {
                sigil: Sigil::Value,
                ..
            })
        ));
        assert!(matches!(
            &args.fields[5].value,
            FieldValue::Expr(ValueExpr {
                sigil: Sigil::Display,
                ..
            })
        ));
        assert_eq!(args.fields[4].name.single_ident.as_ref().unwrap(), "bare");
        assert!(args.fields[1].name.single_ident.is_none());
        assert_eq!(args.skips.len(), 1);
        assert_eq!(args.redacts.len(), 2);
        assert!(matches!(args.level, Some(Level::Known("WARN", _))));
        assert_eq!(args.name.unwrap().value(), "login");
        assert!(args.parent.is_some() && args.follows_from.is_some());
        let krate = args.krate.unwrap();
        assert_eq!(
            quote!(#krate).to_string().replace(' ', ""),
            "::my::reexport"
        );
    }

    #[test]
    fn levels() {
        for (tokens, expected) in [
            (quote!(level = "trace"), "TRACE"),
            (quote!(level = "DEBUG"), "DEBUG"),
            (quote!(level = 3), "INFO"),
            (quote!(level = 4), "WARN"),
            (quote!(level = Level::ERROR), "ERROR"),
            (quote!(level = tracing::Level::DEBUG), "DEBUG"),
            (quote!(level = ::tracing::Level::TRACE), "TRACE"),
        ] {
            let (args, errors) = audited(quote!(event = "a.b", #tokens));
            assert!(errors.is_empty(), "{tokens}: {errors:?}");
            match args.level {
                Some(Level::Known(level, _)) => assert_eq!(level, expected),
                other => panic!("{tokens}: {other:?}"),
            }
        }
        let (args, errors) = audited(quote!(event = "a.b", level = MY_LEVEL));
        assert!(errors.is_empty());
        assert!(matches!(args.level, Some(Level::Path(_))));
        for bad in [
            quote!(level = "loud"),
            quote!(level = 0),
            quote!(level = 6),
            quote!(level = foo()),
        ] {
            let (_, errors) = audited(quote!(event = "a.b", #bad));
            assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
            assert!(errors[0].contains("level"), "{errors:?}");
        }
    }

    #[test]
    fn missing_event() {
        let (_, errors) = audited(quote!());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("missing required option `event`"));
        let (_, errors) = audited(quote!(actor = %x));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("missing required option `event`"));
    }

    #[test]
    fn invalid_event_is_not_also_missing() {
        let (_, errors) = audited(quote!(event = "nope"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        let (_, errors) = audited(quote!(event = nope));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("must be a string literal"));
    }

    #[test]
    fn reports_all_errors_at_once() {
        let (_, errors) = audited(quote!(
            event = "Bad",
            target = "x",
            level = "loud",
            event = "a.b",
            skip(a, a),
            skip_all,
            fields(a.b, x = 1, x = 2),
            bogus(1, 2),
        ));
        let joined = errors.join("\n");
        assert!(joined.contains("invalid event name \"Bad\""), "{joined}");
        assert!(joined.contains("unknown option `target`"), "{joined}");
        assert!(joined.contains("`audit` target"), "{joined}");
        assert!(joined.contains("unknown level \"loud\""), "{joined}");
        assert!(joined.contains("duplicate option `event`"), "{joined}");
        assert!(joined.contains("`a` is listed twice"), "{joined}");
        assert!(joined.contains("`skip_all` cannot be combined"), "{joined}");
        assert!(joined.contains("field `a.b` needs a value"), "{joined}");
        assert!(joined.contains("duplicate field `x`"), "{joined}");
        assert!(joined.contains("unknown option `bogus`"), "{joined}");
        assert_eq!(errors.len(), 9, "{joined}");
    }

    #[test]
    fn typo_suggestions() {
        for (typo, expected) in [
            ("skp", "skip"),
            ("feilds", "fields"),
            ("actr", "actor"),
            ("levle", "level"),
            ("redcat", "redact"),
        ] {
            assert_eq!(
                similar_option(typo, AUDITED_OPTIONS),
                Some(expected),
                "{typo}"
            );
        }
        assert_eq!(similar_option("xyz", AUDITED_OPTIONS), None);
        assert_eq!(similar_option("user", AUDITED_OPTIONS), None);
        let ident = Ident::new("skp", Span::call_site());
        let (_, errors) = audited(quote!(event = "a.b", #ident(x)));
        assert!(errors[0].contains("(did you mean `skip`?)"), "{errors:?}");
    }

    #[test]
    fn unknown_option_lists_valid_ones() {
        let (_, errors) = audited(quote!(event = "a.b", ret));
        assert_eq!(errors.len(), 1);
        for option in AUDITED_OPTIONS {
            assert!(errors[0].contains(&format!("`{option}`")), "{}", errors[0]);
        }
    }

    #[test]
    fn malformed_options() {
        for (tokens, expected) in [
            (quote!(event), "expected `=` after `event`"),
            (quote!(event = ), "`event` needs a value"),
            (
                quote!(event = "a.b" actor = x),
                "expected `,` between options",
            ),
            (
                quote!(event = "a.b", skip = x),
                "expected a list of parameter names",
            ),
            (quote!(event = "a.b", skip()), "`skip()` is empty"),
            (
                quote!(event = "a.b", skip_all = true),
                "`skip_all` takes no value",
            ),
            (
                quote!(event = "a.b", fields = 1),
                "expected a parenthesized list",
            ),
            (quote!(event = "a.b", fields("" = 1)), "must be non-empty"),
            (quote!(event = "a.b", fields(%x = ?y)), "only once"),
            (
                quote!(event = "a.b", fields(x = %Empty)),
                "`Empty` takes no",
            ),
            (quote!(event = "a.b", actor), "expected `=` after `actor`"),
            (quote!(event = "a.b", actor = ), "`actor` needs a value"),
            (
                quote!(event = "a.b", name = foo),
                "`name` must be a string literal",
            ),
            (quote!(event = "a.b", name = ""), "must not be empty"),
            (quote!(event = "a.b", crate = 1), "`crate` must be a path"),
            (quote!(event = "a.b", 42), "expected an option name"),
        ] {
            let (_, errors) = audited(tokens.clone());
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{tokens}: expected {expected:?} in {errors:?}"
            );
        }
    }

    #[test]
    fn skip_all_then_skip() {
        let (_, errors) = audited(quote!(event = "a.b", skip_all, skip(x)));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("`skip(...)` cannot be combined with `skip_all`"));
    }

    #[test]
    fn crate_as_string() {
        let (args, errors) = audited(quote!(event = "a.b", crate = "my::audit"));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(args.krate.is_some());
    }

    #[test]
    fn event_macro_options() {
        let (args, errors) = event(quote!(
            event = "session.timeout",
            outcome = "denied",
            reason = err,
            actor = user,
            resource = ?res,
            fields(a = 1, b.c = %x),
            crate = my,
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(args.outcome.unwrap().0, "Denied");
        assert!(args.reason.is_some());
        assert_eq!(args.fields.len(), 2);

        let (_, errors) = event(quote!(
            event = "a.b",
            outcome = "ok",
            skip(x),
            fields(y = Empty)
        ));
        let joined = errors.join("\n");
        assert!(joined.contains("unknown outcome \"ok\""), "{joined}");
        assert!(
            joined.contains(
                "unknown option `skip` for `audit_event!` (that is an `#[audited]` option)"
            ),
            "{joined}"
        );
        assert!(
            joined.contains("`Empty` fields are only meaningful"),
            "{joined}"
        );
        assert_eq!(errors.len(), 3, "{joined}");

        let (_, errors) = event(quote!(outcome = "success"));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("missing required option `event`"));
    }
}
