//! TLS transport (rustls). Placeholder in the `sasl` branch: the `tls` helper's branch replaces this file.
