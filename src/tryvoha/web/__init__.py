"""The web face: the live map, region pages and the operator console.

Server-rendered HTML (Jinja2 templates in templates/) and small ES modules (static/js/)
with no build step. This package turns domain state into what the pages show; the routes
that serve them live in tryvoha.server.pages and tryvoha.server.static.
"""
