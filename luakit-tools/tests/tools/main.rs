//! Integration tests of luakit-tools: the converter on fixtures and
//! examples, the type stubs, the formatter and the linter.

mod convert;
mod fmt;
mod lint;
mod types;
