"""HTTP: Litestar routes, Jinja templates and the mapping of errors to responses."""
