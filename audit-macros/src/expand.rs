//! Code generation for `#[audited]`.
//!
//! The function item keeps its attributes, visibility and signature exactly
//! as written (so `dead_code`, docs, `#[must_use]`, ... behave as before);
//! only the body is replaced:
//!
//! * a `static` `__private::Callsite` describing the audited action,
//! * a `tracing` span (target `audit`) carrying `audit.event`,
//! * a `Capture` filled with the actor, resource, custom fields and the
//!   (non-skipped) arguments, plus the `redact`ed names,
//! * then the original body runs — inside an `FnOnce` closure for sync
//!   functions, so that `return` and `?` keep working, or inside an async
//!   block wrapped in `AuditFuture` for async ones — and its result decides
//!   the outcome.
//!
//! Identifiers introduced by the expansion use `Span::mixed_site()`, so they
//! can neither capture nor be captured by user code. Tokens that may carry a
//! compile error (e.g. "`Foo` doesn't implement `Debug`") use the call-site
//! hygiene *located at* the user's tokens: the error points at the user's
//! code while lints still see the tokens as macro-generated.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned as _;
use syn::{
    AttrStyle, Attribute, Block, Expr, ExprAsync, FnArg, Ident, ItemFn, LitStr, Pat, ReturnType,
    Signature, Stmt, Type, Visibility,
};

use crate::attr::{self, AuditedArgs, FieldValue, Level, Sigil, ValueExpr};
use crate::ctxt::Ctxt;

/// Entry point of `#[audited]`, on `proc_macro2` tokens so it can be unit-tested.
pub(crate) fn audited(args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let args = attr::parse_audited_args(args, &cx);
    let Some(func) = parse_function(item.clone(), &cx) else {
        return with_errors(item, cx);
    };
    if let Some(constness) = &func.sig.constness {
        cx.error_at(
            constness.span,
            "`#[audited]` cannot be used on a `const fn`: recording an audit event is a runtime side effect",
        );
    }
    let params = collect_params(&func.sig);
    check_params(&args, &params, &cx);
    if cx.has_errors() {
        return with_errors(item, cx);
    }
    cx.check().expect("no errors were recorded");
    gen_function(&func, &args, &params)
}

/// On error, re-emit the item untouched (so that no unrelated error, such as
/// "cannot find function", follows) plus every error.
fn with_errors(item: TokenStream, cx: Ctxt) -> TokenStream {
    match cx.check() {
        Ok(()) => item,
        Err(err) => {
            let errors = err.to_compile_error();
            quote!(#item #errors)
        }
    }
}

// ---------------------------------------------------------------------------
// Parsing the item
// ---------------------------------------------------------------------------

struct Function {
    outer_attrs: Vec<Attribute>,
    inner_attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    /// The body's braces. Their span is kept: an item whose last token came
    /// from the macro would count as macro-generated, and rustc would then
    /// stop reporting `dead_code` (and other lints) for it.
    brace: syn::token::Brace,
    body: Body,
}

enum Body {
    /// The usual case.
    Parsed(Block),
    /// The body does not parse as a block (the user is mid-edit, or it uses
    /// syntax `syn` does not know): keep its tokens as they are, so that rustc
    /// reports the real problem and the signature stays usable by IDEs.
    Raw(TokenStream),
}

/// A function whose body is kept as raw tokens.
struct RawFunction {
    attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    inner_attrs: Vec<Attribute>,
    brace: syn::token::Brace,
    body: TokenStream,
}

impl Parse for RawFunction {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let content;
        let brace = syn::braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body = content.parse()?;
        Ok(Self {
            attrs,
            vis,
            sig,
            inner_attrs,
            brace,
            body,
        })
    }
}

fn parse_function(item: TokenStream, cx: &Ctxt) -> Option<Function> {
    let item_err = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(item) => {
            let (inner_attrs, outer_attrs) = item
                .attrs
                .into_iter()
                .partition(|a| matches!(a.style, AttrStyle::Inner(_)));
            return Some(Function {
                outer_attrs,
                inner_attrs,
                vis: item.vis,
                sig: item.sig,
                brace: item.block.brace_token,
                body: Body::Parsed(*item.block),
            });
        }
        Err(err) => err,
    };
    if let Ok(raw) = syn::parse2::<RawFunction>(item.clone()) {
        return Some(Function {
            outer_attrs: raw.attrs,
            inner_attrs: raw.inner_attrs,
            vis: raw.vis,
            sig: raw.sig,
            brace: raw.brace,
            body: Body::Raw(raw.body),
        });
    }
    if let Ok(decl) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
        if decl.default.is_none() {
            cx.error_at(
                decl.sig.ident.span(),
                "`#[audited]` needs a function body: put it on the implementation (or on a default method)",
            );
            return None;
        }
    }
    match syn::parse2::<syn::Item>(item) {
        Ok(item) => cx.error_at(
            item_keyword_span(&item),
            "`#[audited]` can only be applied to functions and methods",
        ),
        Err(_) => cx.push(item_err),
    }
    None
}

fn item_keyword_span(item: &syn::Item) -> Span {
    use syn::Item;
    match item {
        Item::Const(i) => i.const_token.span,
        Item::Enum(i) => i.enum_token.span,
        Item::ExternCrate(i) => i.extern_token.span,
        Item::ForeignMod(i) => i.abi.extern_token.span,
        Item::Impl(i) => i.impl_token.span,
        Item::Macro(i) => i.mac.path.span(),
        Item::Mod(i) => i.mod_token.span,
        Item::Static(i) => i.static_token.span,
        Item::Struct(i) => i.struct_token.span,
        Item::Trait(i) => i.trait_token.span,
        Item::TraitAlias(i) => i.trait_token.span,
        Item::Type(i) => i.type_token.span,
        Item::Union(i) => i.union_token.span,
        Item::Use(i) => i.use_token.span,
        _ => Span::call_site(),
    }
}

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

/// One captured binding of the function's parameters.
pub(crate) struct Param {
    /// The recorded name (`r#type` is recorded as `type`).
    pub(crate) name: String,
    /// The binding as written (used to refer to it).
    pub(crate) ident: Ident,
    /// Recorded with `value()` (primitive type) rather than `debug()`.
    pub(crate) primitive: bool,
}

pub(crate) fn collect_params(sig: &Signature) -> Vec<Param> {
    let mut out = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => out.push(Param {
                name: "self".to_owned(),
                ident: Ident::new("self", receiver.self_token.span),
                primitive: false,
            }),
            FnArg::Typed(typed) => bindings(&typed.pat, Some(&typed.ty), &mut out),
        }
    }
    out
}

/// Every identifier a pattern binds, with whether its type is (syntactically)
/// primitive. The types of struct fields are unknown, so those use `debug()`.
fn bindings(pat: &Pat, ty: Option<&Type>, out: &mut Vec<Param>) {
    let ty = ty.map(strip_groups);
    match pat {
        Pat::Ident(p) => {
            out.push(Param {
                name: p.ident.unraw().to_string(),
                ident: p.ident.clone(),
                primitive: ty.is_some_and(is_primitive),
            });
            if let Some((_, sub)) = &p.subpat {
                bindings(sub, ty, out);
            }
        }
        Pat::Reference(p) => {
            let inner = match ty {
                Some(Type::Reference(r)) => Some(&*r.elem),
                _ => None,
            };
            bindings(&p.pat, inner, out);
        }
        Pat::Tuple(p) => {
            let types: Option<Vec<&Type>> = match ty {
                Some(Type::Tuple(t)) if t.elems.len() == p.elems.len() => {
                    Some(t.elems.iter().collect())
                }
                _ => None,
            };
            for (i, elem) in p.elems.iter().enumerate() {
                bindings(elem, types.as_ref().map(|t| t[i]), out);
            }
        }
        Pat::TupleStruct(p) => {
            for elem in &p.elems {
                bindings(elem, None, out);
            }
        }
        Pat::Struct(p) => {
            for field in &p.fields {
                bindings(&field.pat, None, out);
            }
        }
        Pat::Slice(p) => {
            let elem_ty = match ty {
                Some(Type::Array(a)) => Some(&*a.elem),
                Some(Type::Slice(s)) => Some(&*s.elem),
                _ => None,
            };
            for elem in &p.elems {
                bindings(elem, elem_ty, out);
            }
        }
        Pat::Paren(p) => bindings(&p.pat, ty, out),
        Pat::Type(p) => bindings(&p.pat, Some(&p.ty), out),
        // Wildcards, rest patterns, literals...: nothing to capture. Anything
        // exotic is left for rustc to judge.
        _ => {}
    }
}

fn strip_groups(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => strip_groups(&g.elem),
        Type::Paren(p) => strip_groups(&p.elem),
        other => other,
    }
}

/// Types recorded with `value()`: integers, `bool`, `char`, `str`, `String`,
/// and shared references to those.
pub(crate) fn is_primitive(ty: &Type) -> bool {
    const PRIMITIVES: &[&str] = &[
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        "bool", "char", "str",
    ];
    match strip_groups(ty) {
        Type::Reference(r) => r.mutability.is_none() && is_primitive(&r.elem),
        Type::Path(p) if p.qself.is_none() => {
            if p.path.segments.iter().any(|s| !s.arguments.is_empty()) {
                return false;
            }
            let segments = attr::segment_names(&p.path);
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            match segments.as_slice() {
                [one] => PRIMITIVES.contains(one) || *one == "String",
                ["std" | "core", "primitive", prim] => PRIMITIVES.contains(prim),
                ["std" | "alloc", "string", "String"] => true,
                _ => false,
            }
        }
        _ => false,
    }
}

/// `skip(...)` / `redact(...)` must name parameters, and may not overlap.
fn check_params(args: &AuditedArgs, params: &[Param], cx: &Ctxt) {
    let names = || {
        if params.is_empty() {
            "this function has no parameters".to_owned()
        } else {
            let list: Vec<String> = params.iter().map(|p| format!("`{}`", p.name)).collect();
            format!("its parameters are {}", list.join(", "))
        }
    };
    let exists = |ident: &Ident| params.iter().any(|p| ident.unraw() == p.name);
    for skip in &args.skips {
        if !exists(skip) {
            cx.error_at(
                skip.span(),
                format!(
                    "cannot skip `{}`: there is no parameter with that name ({})",
                    skip.unraw(),
                    names()
                ),
            );
        }
    }
    for redact in &args.redacts {
        let name = redact.unraw();
        if !exists(redact) {
            cx.error_at(
                redact.span(),
                format!(
                    "cannot redact `{name}`: there is no parameter with that name ({}); `redact(...)` names parameters",
                    names()
                ),
            );
        } else if args.skips.iter().any(|s| s.unraw() == name) {
            cx.error_at(
                redact.span(),
                format!(
                    "`{name}` is both skipped and redacted: a skipped parameter is not captured at all, so remove it from `skip(...)` (to capture it redacted) or from `redact(...)`"
                ),
            );
        } else if args.skip_all.is_some() {
            cx.error_at(
                redact.span(),
                format!(
                    "`{name}` is redacted, but `skip_all` skips every parameter: remove `skip_all` (skipping the others by name) or remove `redact(...)`"
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Shared code generation (also used by `audit_event!`)
// ---------------------------------------------------------------------------

/// The path of the runtime crate: `crate = path`, or `::audit_layer`.
pub(crate) fn krate_path(krate: Option<&syn::Path>) -> TokenStream {
    krate.map_or_else(|| quote!(::audit_layer), ToTokens::to_token_stream)
}

/// A span with call-site hygiene (so lints treat the tokens as generated)
/// that points at `at` in error messages.
pub(crate) fn located(at: Span) -> Span {
    Span::call_site().located_at(at)
}

/// Gives every token of `tokens` the span `span`.
pub(crate) fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut new = Group::new(group.delimiter(), respan(&group.stream(), span));
                new.set_span(span);
                tree = TokenTree::Group(new);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// `krate::__private::func(&expr)`, all located at `at` so that a type error
/// ("doesn't implement `Debug`") is shown at the user's expression only.
fn private_call(krate: &TokenStream, func: &str, expr: &TokenStream, at: Span) -> TokenStream {
    let span = located(at);
    let krate = respan(krate, span);
    let func = Ident::new(func, span);
    quote_spanned!(span=> #krate::__private::#func(&#expr))
}

/// `__private::{value,display,debug}(&expr)`. For `value` and `display`, a value of a string
/// type is picked first (`__private::Shown`) and copied as it is, without the allocation of
/// `to_string`; every other type still goes through the function, so a type error reads
/// as before and points at the expression.
pub(crate) fn value_tokens(krate: &TokenStream, value: &ValueExpr) -> TokenStream {
    let func = match value.sigil {
        Sigil::Value => "value",
        Sigil::Display => "display",
        Sigil::Debug => {
            return private_call(
                krate,
                "debug",
                &value.expr.to_token_stream(),
                value.expr.span(),
            )
        }
    };
    let span = located(value.expr.span());
    let krate = respan(krate, span);
    let func = Ident::new(func, span);
    let expr = &value.expr;
    quote_spanned! {span=>
        {
            #[allow(unused_imports)]
            use #krate::__private::{PickAny as _, PickStr as _};
            match (&&#krate::__private::Shown(&#expr)).__audit_pick() {
                #krate::__private::Picked::Str(text) => #krate::__private::text(text),
                #krate::__private::Picked::Other(other) => #krate::__private::#func(other),
            }
        }
    }
}

/// The event name as the expansion writes it: the `event = "..."` literal,
/// located at the user's literal. Parsing has already required it.
pub(crate) fn event_lit(event: Option<&attr::EventName>) -> LitStr {
    let event = &event.expect("checked: `event` is present").lit;
    LitStr::new(&event.value(), located(event.span()))
}

/// The `static __AUDIT_CALLSITE` item.
pub(crate) fn callsite_static(
    krate: &TokenStream,
    ident: &Ident,
    event: &LitStr,
    name: &LitStr,
) -> TokenStream {
    quote! {
        static #ident: #krate::__private::Callsite = #krate::__private::Callsite {
            event: #event,
            name: #name,
            module_path: ::core::module_path!(),
            file: ::core::file!(),
            line: ::core::line!(),
        };
    }
}

/// `capture.field(...)` calls for custom fields, then `actor`/`resource`.
pub(crate) fn capture_calls(
    krate: &TokenStream,
    capture: &Ident,
    actor: Option<&ValueExpr>,
    resource: Option<&ValueExpr>,
    fields: &[attr::Field],
) -> Vec<TokenStream> {
    let mut calls = Vec::new();
    if let Some(actor) = actor {
        let value = value_tokens(krate, actor);
        calls.push(quote!(#capture.actor(#value);));
    }
    if let Some(resource) = resource {
        let value = value_tokens(krate, resource);
        calls.push(quote!(#capture.resource(#value);));
    }
    for field in fields {
        let name = LitStr::new(&field.name.text, located(field.name.span));
        let value = match &field.value {
            FieldValue::Expr(value) => value_tokens(krate, value),
            FieldValue::Empty(span) => {
                let span = located(*span);
                let krate = respan(krate, span);
                quote_spanned!(span=> #krate::__private::empty())
            }
        };
        calls.push(quote!(#capture.field(#name, #value);));
    }
    calls
}

// ---------------------------------------------------------------------------
// `#[audited]` code generation
// ---------------------------------------------------------------------------

/// Identifiers of the expansion; mixed-site hygiene keeps them private.
struct Names {
    callsite: Ident,
    span: Ident,
    capture: Ident,
    guard: Ident,
    ret: Ident,
    call_once: Ident,
}

impl Names {
    fn new() -> Self {
        let mixed = Span::mixed_site();
        Self {
            callsite: Ident::new("__AUDIT_CALLSITE", mixed),
            span: Ident::new("__audit_span", mixed),
            capture: Ident::new("__audit_capture", mixed),
            guard: Ident::new("__audit_guard", mixed),
            ret: Ident::new("__audit_ret", mixed),
            call_once: Ident::new("__audit_call_once", mixed),
        }
    }
}

fn gen_function(func: &Function, args: &AuditedArgs, params: &[Param]) -> TokenStream {
    let Function {
        outer_attrs,
        inner_attrs,
        vis,
        sig,
        brace,
        body,
    } = func;
    let names = Names::new();
    let krate = krate_path(args.krate.as_ref());
    let prelude = gen_prelude(&names, &krate, args, params, sig);

    let new_body = if let Some((block, tail)) = async_like_tail(body, sig) {
        gen_async_like(&names, &krate, sig, block, &tail)
    } else {
        {
            let stmts = match body {
                Body::Parsed(block) => {
                    let stmts = &block.stmts;
                    quote!(#(#stmts)*)
                }
                Body::Raw(tokens) => tokens.clone(),
            };
            if sig.asyncness.is_some() {
                gen_async_body(&names, &krate, sig, &stmts)
            } else {
                gen_sync_body(&names, &krate, sig, &stmts)
            }
        }
    };

    let mut out = quote!(#(#outer_attrs)* #vis #sig);
    brace.surround(&mut out, |out| {
        out.extend(quote! {
            #(#inner_attrs)*
            #prelude
            #new_body
        });
    });
    out
}

/// The callsite static, the span and the filled `Capture`.
fn gen_prelude(
    names: &Names,
    krate: &TokenStream,
    args: &AuditedArgs,
    params: &[Param],
    sig: &Signature,
) -> TokenStream {
    let Names {
        callsite,
        span,
        capture,
        ..
    } = names;
    let event = event_lit(args.event.as_ref());
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&sig.ident.unraw().to_string(), located(sig.ident.span())));
    let callsite_item = callsite_static(krate, callsite, &event, &name);

    let level = match &args.level {
        None => quote!(#krate::__private::tracing::Level::INFO),
        Some(Level::Known(level, at)) => {
            let level = Ident::new(level, located(*at));
            quote!(#krate::__private::tracing::Level::#level)
        }
        Some(Level::Path(path)) => path.to_token_stream(),
    };
    let parent = args.parent.as_ref().map(|parent| quote!(parent: #parent,));
    let follows_from = args
        .follows_from
        .as_ref()
        .map(|cause| quote!(#span.follows_from(#cause);));

    let mut calls = capture_calls(
        krate,
        capture,
        args.actor.as_ref(),
        args.resource.as_ref(),
        &args.fields,
    );
    if args.skip_all.is_none() {
        for param in params {
            let skipped = args.skips.iter().any(|s| s.unraw() == param.name);
            // A custom field of the same name replaces the parameter.
            let shadowed = args.fields.iter().any(|f| {
                f.name
                    .single_ident
                    .as_ref()
                    .is_some_and(|i| i.unraw() == param.name)
            });
            if skipped || shadowed {
                continue;
            }
            let at = located(param.ident.span());
            let mut ident = param.ident.clone();
            ident.set_span(at);
            let name = LitStr::new(&param.name, at);
            let func = if param.primitive { "value" } else { "debug" };
            let value = private_call(krate, func, &ident.to_token_stream(), at);
            calls.push(quote!(#capture.field(#name, #value);));
        }
    }
    for redact in &args.redacts {
        let name = LitStr::new(&redact.unraw().to_string(), located(redact.span()));
        calls.push(quote!(#capture.redact(#name);));
    }
    let mutability = (!calls.is_empty()).then(|| quote!(mut));

    quote! {
        #callsite_item
        let #span = #krate::__private::tracing::span!(
            target: "audit",
            #parent
            #level,
            #name,
            audit.event = #event
        );
        #follows_from
        let #mutability #capture = #krate::__private::Capture::start(&#callsite);
        #(#calls)*
    }
}

fn is_never(sig: &Signature) -> bool {
    matches!(&sig.output, ReturnType::Type(_, ty) if matches!(strip_groups(ty), Type::Never(_)))
}

/// The declared return type with every `impl Trait` replaced by `_`, usable
/// as a type annotation inside the body.
fn return_type(sig: &Signature) -> TokenStream {
    match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => {
            let mut ty = (**ty).clone();
            erase_impl_trait(&mut ty);
            ty.into_token_stream()
        }
    }
}

/// The declared return type's location, or the function name's without one.
fn return_span(sig: &Signature) -> Span {
    match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    }
}

/// Replaces every `impl Trait` in `ty` with `_`.
fn erase_impl_trait(ty: &mut Type) {
    match ty {
        Type::ImplTrait(impl_trait) => {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: syn::Token![_](impl_trait.impl_token.span),
            });
        }
        Type::Array(t) => erase_impl_trait(&mut t.elem),
        Type::Group(t) => erase_impl_trait(&mut t.elem),
        Type::Paren(t) => erase_impl_trait(&mut t.elem),
        Type::Ptr(t) => erase_impl_trait(&mut t.elem),
        Type::Reference(t) => erase_impl_trait(&mut t.elem),
        Type::Slice(t) => erase_impl_trait(&mut t.elem),
        Type::Tuple(t) => t.elems.iter_mut().for_each(erase_impl_trait),
        Type::Path(t) => {
            if let Some(qself) = &mut t.qself {
                erase_impl_trait(&mut qself.ty);
            }
            for segment in &mut t.path.segments {
                if let syn::PathArguments::AngleBracketed(args) = &mut segment.arguments {
                    for arg in &mut args.args {
                        match arg {
                            syn::GenericArgument::Type(ty) => erase_impl_trait(ty),
                            syn::GenericArgument::AssocType(assoc) => {
                                erase_impl_trait(&mut assoc.ty);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        // `dyn Trait<...>` and function pointers cannot contain `impl Trait`.
        _ => {}
    }
}

/// The `T` of the first `Future<Output = T>` found in `ty`.
fn find_future_output(ty: &Type) -> Option<&Type> {
    fn in_bounds(
        bounds: &syn::punctuated::Punctuated<syn::TypeParamBound, syn::Token![+]>,
    ) -> Option<&Type> {
        bounds.iter().find_map(|bound| match bound {
            syn::TypeParamBound::Trait(t) => find_in_path(&t.path),
            _ => None,
        })
    }
    match ty {
        Type::ImplTrait(t) => in_bounds(&t.bounds),
        Type::TraitObject(t) => in_bounds(&t.bounds),
        Type::Group(t) => find_future_output(&t.elem),
        Type::Paren(t) => find_future_output(&t.elem),
        Type::Path(t) if t.qself.is_none() => find_in_path(&t.path),
        _ => None,
    }
}

fn find_in_path(path: &syn::Path) -> Option<&Type> {
    for segment in &path.segments {
        let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
            continue;
        };
        for arg in &args.args {
            match arg {
                syn::GenericArgument::AssocType(assoc)
                    if segment.ident == "Future" && assoc.ident == "Output" =>
                {
                    return Some(&assoc.ty);
                }
                syn::GenericArgument::Type(ty) => {
                    if let Some(found) = find_future_output(ty) {
                        return Some(found);
                    }
                }
                _ => {}
            }
        }
    }
    None
}

/// An unreachable `return` of the declared type, placed first in an async
/// block so that the block's output type is known before its body is
/// checked: `?` and early `return`s infer as in the original function, and
/// type errors point at the user's expressions.
///
/// `at` is where rustc's "return type inferred to be ... here" note points:
/// the declared return type.
fn fake_return(ty: &TokenStream, at: Span) -> TokenStream {
    let fake = Ident::new("__audit_fake_return", Span::mixed_site().located_at(at));
    quote_spanned! {located(at)=>
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::let_with_type_underscore,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let #fake: #ty = loop {};
            return #fake;
        }
    }
}

fn gen_sync_body(
    names: &Names,
    krate: &TokenStream,
    sig: &Signature,
    stmts: &TokenStream,
) -> TokenStream {
    let Names {
        span,
        capture,
        guard,
        ret,
        call_once,
        ..
    } = names;
    if is_never(sig) {
        // `-> !`: the body never returns, so there is no outcome to report
        // except through the guard's `Drop` (on panic).
        return quote! {
            let #guard = #krate::__private::enter(#capture, #span);
            { #stmts }
        };
    }
    let ty = return_type(sig);
    // The body runs in a closure so that `return` and `?` leave the closure,
    // not the function. Passing it to a function that demands `FnOnce` makes
    // the closure `FnOnce` (so it may return borrows of captured `&mut`
    // parameters), and the explicit return type makes `?` and early returns
    // infer exactly as in the original function.
    quote! {
        #[inline]
        fn #call_once<R, F: ::core::ops::FnOnce() -> R>(f: F) -> R {
            return f();
        }
        let #guard = #krate::__private::enter(#capture, #span);
        let #ret = #call_once::<#ty, _>(move || { #stmts });
        #guard.finish(#krate::__audit_outcome!(&#ret));
        return #ret;
    }
}

fn gen_async_body(
    names: &Names,
    krate: &TokenStream,
    sig: &Signature,
    stmts: &TokenStream,
) -> TokenStream {
    let Names {
        span, capture, ret, ..
    } = names;
    if is_never(sig) {
        return quote! {
            return #krate::__private::AuditFuture::new(#capture, #span, async move { #stmts }).await;
        };
    }
    let fake_return = fake_return(&return_type(sig), return_span(sig));
    quote! {
        return #krate::__private::AuditFuture::new(#capture, #span, async move {
            let #ret = async move {
                #fake_return
                { #stmts }
            }
            .await;
            #krate::__private::set_outcome(#krate::__audit_outcome!(&#ret));
            return #ret;
        })
        .await;
    }
}

// ---------------------------------------------------------------------------
// Sync functions returning a future (`-> impl Future` returning `async {}`,
// `-> Pin<Box<dyn Future>>` returning `Box::pin(async {})`, and the methods
// `#[async_trait]` generates).
// ---------------------------------------------------------------------------

struct AsyncTail<'a> {
    /// `Box::pin` (or whatever path ending in `Box::pin` was used).
    boxed: Option<&'a Expr>,
    block: &'a ExprAsync,
}

/// Detects a non-async function whose tail expression is an async block,
/// possibly `Box::pin`ned: the future, not the call, is what gets audited.
fn async_like_tail<'a>(body: &'a Body, sig: &Signature) -> Option<(&'a Block, AsyncTail<'a>)> {
    if sig.asyncness.is_some() {
        return None;
    }
    let Body::Parsed(block) = body else {
        return None;
    };
    let Some(Stmt::Expr(tail, None)) = block.stmts.last() else {
        return None;
    };
    let tail = match strip_parens(tail) {
        Expr::Async(block) => Some(AsyncTail { boxed: None, block }),
        Expr::Call(call) if call.args.len() == 1 => {
            let Expr::Path(func) = strip_parens(&call.func) else {
                return None;
            };
            if !attr::segment_names(&func.path).ends_with(&["Box".to_owned(), "pin".to_owned()]) {
                return None;
            }
            match strip_parens(&call.args[0]) {
                Expr::Async(block) => Some(AsyncTail {
                    boxed: Some(&call.func),
                    block,
                }),
                _ => None,
            }
        }
        _ => None,
    };
    tail.map(|tail| (block, tail))
}

fn strip_parens(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => strip_parens(&p.expr),
        Expr::Group(g) => strip_parens(&g.expr),
        other => other,
    }
}

/// `Future<Output = T>` in the return type: `T`, with `impl Trait` erased,
/// and where `T` was written.
fn future_output(sig: &Signature) -> Option<(TokenStream, Span)> {
    let ReturnType::Type(_, ty) = &sig.output else {
        return None;
    };
    let mut output = find_future_output(ty)?.clone();
    if matches!(output, Type::Never(_)) {
        return None;
    }
    let at = output.span();
    erase_impl_trait(&mut output);
    Some((output.into_token_stream(), at))
}

fn gen_async_like(
    names: &Names,
    krate: &TokenStream,
    sig: &Signature,
    block: &Block,
    tail: &AsyncTail<'_>,
) -> TokenStream {
    let Names {
        span, capture, ret, ..
    } = names;
    let (init, _tail) = block.stmts.split_at(block.stmts.len() - 1);
    let ExprAsync {
        attrs,
        async_token,
        capture: move_token,
        block: async_block,
    } = tail.block;
    let fake_return = future_output(sig).map(|(ty, at)| fake_return(&ty, at));
    let stmts = &async_block.stmts;
    let future = quote! {
        #krate::__private::AuditFuture::new(#capture, #span, async move {
            let #ret = #(#attrs)* #async_token #move_token {
                #fake_return
                { #(#stmts)* }
            }
            .await;
            #krate::__private::set_outcome(#krate::__audit_outcome!(&#ret));
            return #ret;
        })
    };
    let future = match tail.boxed {
        Some(boxed) => quote!(#boxed(#future)),
        None => future,
    };
    quote! {
        {
            #(#init)*
            return #future;
        }
    }
}

/// The expansion of a captured `value` or `display` of `expr` (as `value_tokens` writes it,
/// in `TokenStream::to_string` form), for the expansion tests.
#[cfg(test)]
pub(crate) fn picked(func: &str, expr: &str) -> String {
    let p = ":: audit_layer :: __private ::";
    format!(
        "{{ # [allow (unused_imports)] use {p} {{ PickAny as _ , PickStr as _ }} ; \
         match (&& {p} Shown (& {expr})) . __audit_pick () {{ \
         {p} Picked :: Str (text) => {p} text (text) , \
         {p} Picked :: Other (other) => {p} {func} (other) , }} }}"
    )
}

/// Asserts that `text`, an expansion in `TokenStream::to_string` form, contains every one
/// of `needles`; a missing one fails the test with the whole expansion shown. For the
/// expansion tests.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "missing `{needle}` in\n{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
        audited(args, item)
    }

    fn errors_of(tokens: &TokenStream) -> Vec<String> {
        // `compile_error! { "..." }` invocations, in order.
        let text = tokens.to_string();
        text.split("compile_error !")
            .skip(1)
            .map(|s| {
                let start = s.find('"').unwrap();
                let end = s[start + 1..].find("\" }").unwrap();
                s[start + 1..start + 1 + end].to_owned()
            })
            .collect()
    }

    fn assert_fn(tokens: &TokenStream) -> ItemFn {
        assert!(errors_of(tokens).is_empty(), "{tokens}");
        syn::parse2::<ItemFn>(tokens.clone()).unwrap_or_else(|e| panic!("{e}: {tokens}"))
    }

    #[test]
    fn primitive_types() {
        for ty in [
            "u8",
            "i128",
            "usize",
            "bool",
            "char",
            "str",
            "&str",
            "&&str",
            "String",
            "std::string::String",
            "::std::string::String",
            "core::primitive::u32",
            "&u64",
            "(u8)",
        ] {
            assert!(is_primitive(&syn::parse_str(ty).unwrap()), "{ty}");
        }
        for ty in [
            "f64",
            "&mut u8",
            "Vec<u8>",
            "T",
            "impl Display",
            "my::String",
            "Option<u8>",
            "[u8]",
            "Box<str>",
            "(u8, u8)",
        ] {
            assert!(!is_primitive(&syn::parse_str(ty).unwrap()), "{ty}");
        }
    }

    #[test]
    fn collects_destructured_params() {
        let sig: Signature = syn::parse_quote!(fn f(
            &self,
            (a, b): (u8, Vec<u8>),
            Foo { x, y: z, .. }: Foo,
            Bar(p, _): Bar,
            &q: &u32,
            [r, s]: [String; 2],
            whole @ (t, u): (i8, i8),
            _: u8,
            r#type: &str,
        ));
        let params = collect_params(&sig);
        let got: Vec<(&str, bool)> = params
            .iter()
            .map(|p| (p.name.as_str(), p.primitive))
            .collect();
        assert_eq!(
            got,
            [
                ("self", false),
                ("a", true),
                ("b", false),
                ("x", false),
                ("z", false),
                ("p", false),
                ("q", true),
                ("r", true),
                ("s", true),
                ("whole", false),
                ("t", true),
                ("u", true),
                ("type", true),
            ]
        );
    }

    #[test]
    fn sync_expansion_shape() {
        let out = expand(
            quote!(event = "auth.login", actor = %email, skip(password), redact(token), fields(method = "password", user.id = Empty)),
            quote!(
                #[doc = "docs"]
                pub fn login(
                    email: &str,
                    password: &str,
                    token: String,
                    n: Vec<u8>,
                ) -> Result<u32, String> {
                    #![allow(unused)]
                    Ok(1)
                }
            ),
        );
        let item = assert_fn(&out);
        assert_eq!(item.sig.ident, "login");
        assert_eq!(item.attrs.len(), 2, "outer doc + inner allow kept");
        let text = out.to_string();
        assert_contains_all(
            &text,
            &[
                "static __AUDIT_CALLSITE : :: audit_layer :: __private :: Callsite",
                "event : \"auth.login\"",
                "name : \"login\"",
                "target : \"audit\"",
                ":: audit_layer :: __private :: tracing :: Level :: INFO",
                "audit . event = \"auth.login\"",
                &format!("__audit_capture . actor ({})", picked("display", "email")),
                &format!(
                    "__audit_capture . field (\"method\" , {})",
                    picked("value", "\"password\"")
                ),
                "__audit_capture . field (\"user.id\" , :: audit_layer :: __private :: empty ())",
                // Parameters are captured with `value` (or `debug`) directly.
                "__audit_capture . field (\"email\" , :: audit_layer :: __private :: value (& email))",
                "__audit_capture . field (\"token\" , :: audit_layer :: __private :: value (& token))",
                "__audit_capture . field (\"n\" , :: audit_layer :: __private :: debug (& n))",
                "__audit_capture . redact (\"token\")",
                ":: audit_layer :: __private :: enter (__audit_capture , __audit_span)",
                "__audit_call_once :: < Result < u32 , String > , _ > (move ||",
                "__audit_guard . finish (:: audit_layer :: __audit_outcome ! (& __audit_ret))",
            ],
        );
        assert!(!text.contains("\"password\" , :: audit_layer :: __private :: value (& password)"));
        // The inner attribute stays first in the body.
        assert!(
            text.contains("{ # ! [allow (unused)] static __AUDIT_CALLSITE"),
            "{text}"
        );
    }

    #[test]
    fn options_in_expansion() {
        let out = expand(
            quote!(
                event = "a.b",
                level = 5,
                name = "custom",
                parent = p,
                follows_from = c,
                crate = ::my::audit,
                skip_all
            ),
            quote!(
                fn f(p: Option<u8>, c: Option<u8>) {}
            ),
        );
        assert_fn(&out);
        let text = out.to_string();
        assert_contains_all(
            &text,
            &[
                ":: my :: audit :: __private :: tracing :: Level :: ERROR",
                "parent : p ,",
                "\"custom\"",
                "__audit_span . follows_from (c) ;",
                "let __audit_capture = :: my :: audit :: __private :: Capture :: start",
            ],
        );
        assert!(!text.contains(". field ("), "{text}");
    }

    #[test]
    fn field_shadows_param() {
        let out = expand(
            quote!(event = "a.b", fields(id = %id)),
            quote!(
                fn f(id: u64) {}
            ),
        );
        let text = out.to_string();
        assert_eq!(text.matches(". field (\"id\"").count(), 1, "{text}");
        assert!(text.contains(&picked("display", "id")), "{text}");
    }

    #[test]
    fn async_fn_expansion() {
        let out = expand(
            quote!(event = "a.b"),
            quote!(
                async fn f(x: u8) -> Result<impl Sized, ()> {
                    Ok(x)
                }
            ),
        );
        let item = assert_fn(&out);
        assert!(item.sig.asyncness.is_some());
        assert_contains_all(
            &out.to_string(),
            &[
                "AuditFuture :: new (__audit_capture , __audit_span , async move",
                "let __audit_fake_return : Result < _ , () > = loop { } ;",
                "set_outcome",
            ],
        );
    }

    #[test]
    fn async_like_expansion() {
        let out = expand(
            quote!(event = "a.b"),
            quote!(
                fn f(&self) -> Pin<Box<dyn Future<Output = u8> + Send + '_>> {
                    let x = 1;
                    Box::pin(async move { x })
                }
            ),
        );
        assert_fn(&out);
        let text = out.to_string();
        assert_contains_all(
            &text,
            &[
                "Box :: pin (:: audit_layer :: __private :: AuditFuture :: new",
                "let __audit_fake_return : u8 = loop",
            ],
        );
        assert!(!text.contains("__audit_call_once"), "{text}");

        let out = expand(
            quote!(event = "a.b"),
            quote!(
                fn f() -> impl Future<Output = ()> {
                    async {}
                }
            ),
        );
        assert_fn(&out);
        assert!(out.to_string().contains("AuditFuture :: new"));
    }

    #[test]
    fn async_like_detection() {
        // Wrapped: the future is what gets audited.
        for item in [
            quote!(
                fn f() -> impl Future<Output = u8> {
                    async move { 1 }
                }
            ),
            quote!(
                fn f() -> impl Future<Output = u8> {
                    (async { 1 })
                }
            ),
            quote!(
                fn f() -> Pin<Box<dyn Future<Output = u8>>> {
                    Box::pin(async move { 1 })
                }
            ),
            quote!(
                fn f() -> Pin<Box<dyn Future<Output = u8>>> {
                    ::std::boxed::Box::pin(async { 1 })
                }
            ),
            // What `#[async_trait]` generates for `async fn load(&self, id: u32) -> u8`.
            quote!(
                fn load<'life0, 'async_trait>(
                    &'life0 self,
                    id: u32,
                ) -> Pin<Box<dyn Future<Output = u8> + Send + 'async_trait>>
                where
                    'life0: 'async_trait,
                    Self: 'async_trait,
                {
                    Box::pin(async move {
                        let __self = self;
                        let id = id;
                        let __ret: u8 = { 1 };
                        #[allow(unreachable_code)]
                        __ret
                    })
                }
            ),
        ] {
            let out = expand(quote!(event = "a.b"), item.clone());
            assert_fn(&out);
            let text = out.to_string();
            assert!(text.contains("AuditFuture :: new"), "{item}\n{text}");
            assert!(!text.contains("__audit_call_once"), "{item}\n{text}");
            assert!(
                text.contains("let __audit_fake_return : u8"),
                "{item}\n{text}"
            );
        }
        // Not wrapped: plain sync functions that happen to involve futures.
        for item in [
            quote!(
                fn f() -> JoinHandle<()> {
                    spawn(async move {})
                }
            ),
            quote!(
                fn f() {
                    let _fut = async {};
                }
            ),
            quote!(
                fn f() -> Pin<Box<dyn Future<Output = ()>>> {
                    Box::pin(fut())
                }
            ),
            quote!(
                fn f() -> impl Future<Output = ()> {
                    async {};
                }
            ),
        ] {
            let out = expand(quote!(event = "a.b"), item.clone());
            assert_fn(&out);
            let text = out.to_string();
            assert!(text.contains("__audit_call_once"), "{item}\n{text}");
            assert!(!text.contains("AuditFuture"), "{item}\n{text}");
        }
    }

    #[test]
    fn erases_impl_trait_in_annotations() {
        let sig: Signature = syn::parse_quote!(
            fn f() -> Result<(impl Iterator<Item = impl Sized>, &'static [impl Copy]), Box<dyn Error>>
        );
        assert_eq!(
            return_type(&sig).to_string(),
            "Result < (_ , & 'static [_]) , Box < dyn Error > >"
        );
        let sig: Signature = syn::parse_quote!(fn f() -> Pin<Box<dyn Future<Output = Result<impl Sized, E>> + Send>>);
        assert_eq!(
            future_output(&sig).unwrap().0.to_string(),
            "Result < _ , E >"
        );
        let sig: Signature = syn::parse_quote!(fn f() -> impl Future<Output = ()> + Send);
        assert_eq!(future_output(&sig).unwrap().0.to_string(), "()");
        let sig: Signature = syn::parse_quote!(fn f() -> BoxFuture<'static, u8>);
        assert!(future_output(&sig).is_none());
    }

    #[test]
    fn never_type() {
        let out = expand(
            quote!(event = "a.b"),
            quote!(
                fn f() -> ! {
                    loop {}
                }
            ),
        );
        assert_fn(&out);
        assert!(!out.to_string().contains("finish"));
    }

    #[test]
    fn raw_body_fallback() {
        // `syn` cannot parse this body, but the function is still expanded.
        let out = expand(quote!(event = "a.b"), quote!(fn f(x: u8) { let = ; }));
        assert!(errors_of(&out).is_empty(), "{out}");
        assert!(out.to_string().contains("__audit_call_once"));
    }

    #[test]
    fn errors_keep_item_and_report_everything() {
        let out = expand(
            quote!(event = "a.b", skip(nope, a), redact(a, zz)),
            quote!(
                const fn f(a: u8) -> u8 {
                    a
                }
            ),
        );
        let errors = errors_of(&out);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("`const fn`"), "{errors:?}");
        assert!(errors[1].contains("cannot skip `nope`"), "{errors:?}");
        assert!(errors[1].contains("its parameters are `a`"), "{errors:?}");
        assert!(
            errors[2].contains("`a` is both skipped and redacted"),
            "{errors:?}"
        );
        assert!(errors[3].contains("cannot redact `zz`"), "{errors:?}");
        // The original item is emitted as is.
        assert!(out
            .to_string()
            .starts_with("const fn f (a : u8) -> u8 { a }"));
    }

    #[test]
    fn redact_with_skip_all() {
        let out = expand(
            quote!(event = "a.b", skip_all, redact(a)),
            quote!(
                fn f(a: u8) {}
            ),
        );
        let errors = errors_of(&out);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("`skip_all` skips every parameter"));
    }

    #[test]
    fn non_functions() {
        for item in [
            quote!(
                struct S;
            ),
            quote!(impl S {}),
            quote!(
                const X: u8 = 1;
            ),
            quote!(
                mod m {}
            ),
        ] {
            let out = expand(quote!(event = "a.b"), item.clone());
            let errors = errors_of(&out);
            assert_eq!(errors.len(), 1, "{item}");
            assert!(
                errors[0].contains("can only be applied to functions"),
                "{errors:?}"
            );
        }
        let out = expand(
            quote!(event = "a.b"),
            quote!(
                fn f(&self);
            ),
        );
        assert!(errors_of(&out)[0].contains("needs a function body"));
    }

    #[test]
    fn self_receivers() {
        for item in [
            quote!(
                fn f(self) {}
            ),
            quote!(
                fn f(&self) {}
            ),
            quote!(
                fn f(&mut self) {}
            ),
            quote!(
                fn f(mut self) {}
            ),
            quote!(
                fn f(self: Pin<&mut Self>) {}
            ),
        ] {
            let out = expand(quote!(event = "a.b"), item);
            let text = out.to_string();
            assert!(
                text.contains("field (\"self\" , :: audit_layer :: __private :: debug (& self))"),
                "{text}"
            );
        }
        let out = expand(
            quote!(event = "a.b", skip(self)),
            quote!(
                fn f(&self) {}
            ),
        );
        assert!(!out.to_string().contains("\"self\""));
    }
}
