"""Model frontends written in Python (the IR frontend lives in the Rust core)."""
