"""The web console at /console: plain ES modules and one stylesheet, served from the package.

No library and no build: the page (index.html) and its files (static/) are what the browser
runs, so the console works offline from the first `trainql serve`, with nothing fetched.
It is a client of the public GraphQL API only (router.py serves files, nothing else).
"""
