"""The application core around the domain: writes through the store, the ordered feed of
committed events, issuers' tokens. Knows nothing of HTTP."""
