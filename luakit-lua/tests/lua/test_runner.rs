//! test_runner
