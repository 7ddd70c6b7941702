//! The DOT text of `observationSource`: lexer, statement parser and attribute decoding
//! (§2.1–2.4 of the pipeline spec). [`crate::graph`] turns the result into a [`crate::Pipeline`].

mod attr;
pub(crate) mod lexer;
pub(crate) mod parser;
pub(crate) mod refs;

/// An error at a byte offset of the DOT text (mapped to the file by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DotError {
    pub offset: usize,
    pub message: String,
}

impl DotError {
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            message: message.into(),
        }
    }
}
