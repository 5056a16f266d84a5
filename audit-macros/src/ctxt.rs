//! Error accumulation, in the spirit of `serde_derive`'s `Ctxt`.
//!
//! Every problem found while parsing the macro input is recorded here instead
//! of aborting at the first one, so that a user sees all of their mistakes in
//! one compile instead of fixing them one at a time.

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro2::Span;

/// Collects `syn::Error`s and combines them into one at the end.
///
/// Dropping a `Ctxt` without calling [`Ctxt::check`] panics (unless the
/// thread is already panicking), so that an error can never be silently lost.
pub(crate) struct Ctxt {
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Self {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error located at `span`.
    pub(crate) fn error_at(&self, span: Span, msg: impl Display) {
        self.push(syn::Error::new(span, msg));
    }

    /// Records an error produced by `syn`.
    pub(crate) fn push(&self, err: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("Ctxt used after check")
            .push(err);
    }

    /// Whether at least one error was recorded so far.
    pub(crate) fn has_errors(&self) -> bool {
        self.errors.borrow().as_ref().is_some_and(|e| !e.is_empty())
    }

    /// Consumes the context: `Ok(())` when no error was recorded, otherwise
    /// one `syn::Error` holding every recorded error (in order).
    pub(crate) fn check(self) -> syn::Result<()> {
        let errors = self.errors.borrow_mut().take().expect("Ctxt checked twice");
        let mut errors = errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for err in errors {
            combined.combine(err);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        assert!(
            std::thread::panicking() || self.errors.borrow().is_none(),
            "audit-macros: Ctxt dropped without `check`"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combines_errors_in_order() {
        let cx = Ctxt::new();
        assert!(!cx.has_errors());
        cx.error_at(Span::call_site(), "first");
        cx.error_at(Span::call_site(), "second");
        assert!(cx.has_errors());
        let err = cx.check().unwrap_err();
        let msgs: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs, ["first", "second"]);
    }

    #[test]
    fn empty_is_ok() {
        assert!(Ctxt::new().check().is_ok());
    }
}
