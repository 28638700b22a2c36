"""REST: aiohttp handlers over the core, request schemas, and the OpenAPI document.

Routes are declared once (`Route`), and both the router and the OpenAPI
document are built from the declarations. May import: `app.chat`,
`app.auth`, `app.schemas`, `config`, aiohttp, aiohttp_jinja2, marshmallow,
apispec, orjson. Never storage, Redis or RQ.
"""
