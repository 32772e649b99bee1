//! End-to-end tests on a real BuildKit: placeholder until the frontend lands.

use anyhow::Result;

/// Runs the end-to-end suite.
pub fn run(_args: &[String]) -> Result<()> {
    Ok(())
}
