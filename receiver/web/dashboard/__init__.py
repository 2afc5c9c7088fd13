"""The dashboard at ``/``: recent tasks and their images, live; one task in detail.

Server-rendered Jinja2 templates (``templates/``) and a little vanilla JavaScript
(``static/dashboard.js``), no build step. ``pages`` has the routes, ``present`` the
pure helpers that turn rows into what a person reads, ``session`` the browser login
used when ``GENHOOK_API_TOKEN`` is set.
"""
