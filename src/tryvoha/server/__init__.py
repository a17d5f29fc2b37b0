"""HTTP: the API, the streams and the pages. The only layer that knows HTTP."""
