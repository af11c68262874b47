"""The staff console: a small server-rendered web app where council staff work handover cases, edit content
and manage accounts. Run it with `python -m bot.console` (see `__main__.py`).

The surface an area of the console builds on:

- `bot.console.app.create_app(database_url)`: the Sanic app. Each area is a module in `views/` with a
  `register(app)` function that adds its routes; list it in `views.AREAS`. Give every route a `name=`
  prefixed with the area (`name="cases_index"`), because Sanic refuses two routes with one name.
- `bot.console.auth.require(role)`: decorator for a view. Anonymous page requests go to /login (`/api/…`
  paths get 401 JSON); a role that can't (`knowledge.staff.can`) gets a 403 page (403 JSON under /api/).
  `require()` with no role admits any signed-in staff. Every path except /login, /healthz and /static/ is
  already closed to anonymous visitors by the middleware; `require` adds the role check.
- `request.ctx.user` (a detached `knowledge.models.StaffUser`, or None) and `request.ctx.staff_session`
  (its `StaffSession`): set for every request by the middleware.
- CSRF: every POST/PUT/PATCH/DELETE must send the session's token as form field `csrf_token` or header
  `X-CSRF-Token`; the middleware answers 403 otherwise, before any view runs. Templates get it as
  `csrf_token`: put `<input type="hidden" name="csrf_token" value="{{ csrf_token }}">` in every form.
- `bot.console.templating.render(request, "page.html", title=…, **context)`: a page from `templates/`
  (autoescaped, undefined names are errors) extending `base.html`, given `user`, `csrf_token`, `nav`,
  `static_url(name)`, `can(role, needed)` and `home`.
- `bot.console.data.in_db(request, work)`: run `work(session)` in one transaction on a worker thread, so
  database calls don't block the event loop. Returned rows are detached but keep their loaded columns.
- Security headers (CSP `default-src 'self'` so no inline script or style, no framing, nosniff, no-store
  caching) are added to every response by `app.py`.
"""
