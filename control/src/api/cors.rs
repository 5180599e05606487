//! Placeholder: CORS for the configured web-tier origins.
