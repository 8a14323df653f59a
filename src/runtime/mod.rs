//! Core, the plugin trait, compiled models and infer requests.
