//! Code generation for `audit_event!(...)`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::Ident;

use crate::attr;
use crate::ctxt::Ctxt;
use crate::expand::{callsite_static, capture_calls, event_lit, krate_path, located};

/// Entry point of `audit_event!`, on `proc_macro2` tokens so it can be unit-tested.
///
/// Always expands to a block expression of type `()`; on error the block
/// holds the `compile_error!`s.
pub(crate) fn audit_event(input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let args = attr::parse_event_args(input, &cx);
    if let Err(err) = cx.check() {
        let errors = err.to_compile_error();
        return quote!({ #errors });
    }
    let krate = krate_path(args.krate.as_ref());
    let mixed = Span::mixed_site();
    let callsite = Ident::new("__AUDIT_CALLSITE", mixed);
    let capture = Ident::new("__audit_capture", mixed);

    let event = event_lit(args.event.as_ref());
    let callsite_item = callsite_static(&krate, &callsite, &event, &event);

    let calls = capture_calls(
        &krate,
        &capture,
        args.actor.as_ref(),
        args.resource.as_ref(),
        &args.fields,
    );
    let mutability = (!calls.is_empty()).then(|| quote!(mut));

    let (variant, at) = args
        .outcome
        .map_or(("Success", Span::call_site()), |(v, at)| (v, located(at)));
    let variant = Ident::new(variant, at);
    let outcome = quote!(#krate::__private::Outcome::#variant);

    let reason = args.reason.as_ref().map_or_else(
        || quote!(::core::option::Option::None),
        |reason| {
            let at = located(reason.span());
            quote_spanned! {at=>
                ::core::option::Option::Some(::std::string::ToString::to_string(&#reason))
            }
        },
    );

    quote! {
        {
            #callsite_item
            let #mutability #capture = #krate::__private::Capture::start(&#callsite);
            #(#calls)*
            #capture.emit(#outcome, #reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expand::{assert_contains_all, picked};

    #[test]
    fn expansion_shape() {
        let out = audit_event(quote!(
            event = "session.timeout",
            outcome = "denied",
            reason = err,
            actor = %user,
            resource = ?res,
            fields(idle.secs = secs, k),
        ));
        let block: syn::Block = syn::parse2(out.clone()).expect("a block");
        assert_eq!(block.stmts.len(), 7, "{out}");
        assert_contains_all(
            &out.to_string(),
            &[
                "static __AUDIT_CALLSITE : :: audit_layer :: __private :: Callsite",
                "event : \"session.timeout\"",
                &format!("__audit_capture . actor ({})", picked("display", "user")),
                "__audit_capture . resource (:: audit_layer :: __private :: debug (& res))",
                &format!(
                    "__audit_capture . field (\"idle.secs\" , {})",
                    picked("value", "secs")
                ),
                &format!("__audit_capture . field (\"k\" , {})", picked("value", "k")),
                "__audit_capture . emit (:: audit_layer :: __private :: Outcome :: Denied , :: core :: option :: Option :: Some (:: std :: string :: ToString :: to_string (& err)))",
            ],
        );
    }

    #[test]
    fn defaults() {
        let out = audit_event(quote!(event = "a.b", crate = my_crate));
        assert_contains_all(
            &out.to_string(),
            &[
                "let __audit_capture = my_crate :: __private :: Capture :: start",
                "emit (my_crate :: __private :: Outcome :: Success , :: core :: option :: Option :: None)",
            ],
        );
    }

    #[test]
    fn errors_are_a_block() {
        let out = audit_event(quote!(event = "bad", outcome = "meh"));
        let block: syn::Block = syn::parse2(out.clone()).expect("a block");
        assert_eq!(block.stmts.len(), 2, "{out}");
        assert!(out.to_string().contains("compile_error"));
    }
}
