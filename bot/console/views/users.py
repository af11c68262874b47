"""Staff accounts (admins only): `/admin/users` lists them and creates one; `/admin/users/<id>/disable` and
`/enable` switch one off or on. Disabling signs that person out at once."""

from __future__ import annotations

from typing import Any, Optional

from sanic import Sanic, response
from sanic.exceptions import NotFound
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.orm import Session

from bot.console.auth import require
from bot.console.data import in_db
from bot.console.params import check_id, int_arg
from bot.console.templating import render
from knowledge.models import StaffUser
from knowledge.staff import ADMIN, AGENT, ROLES, StaffInputError, create_user, get_user_by_id, list_users, set_active

# The form's fields in page order, so the error summary lists problems in the order they appear.
FIELDS = ("username", "display_name", "role", "password")


def _id_arg(request: Request, name: str) -> Optional[int]:
    return int_arg(request, name)


async def _page(
    request: Request,
    *,
    status: int = 200,
    errors: Optional[dict[str, str]] = None,
    form: Optional[dict[str, str]] = None,
    notice: Optional[str] = None,
) -> HTTPResponse:
    users: list[StaffUser] = await in_db(request, list_users)
    by_id = {u.id: u for u in users}
    if notice is None:
        created, disabled, enabled = (by_id.get(_id_arg(request, k)) for k in ("created", "disabled", "enabled"))
        if created:
            notice = f"Account created for {created.display_name} ({created.username})."
        elif disabled:
            notice = f"{disabled.display_name} ({disabled.username}) can no longer sign in."
        elif enabled:
            notice = f"{enabled.display_name} ({enabled.username}) can sign in again."
    errors = errors or {}
    summary: list[tuple[Optional[str], str]] = [(field, errors[field]) for field in FIELDS if field in errors]
    summary += [(None, message) for field, message in errors.items() if field not in FIELDS]
    values: dict[str, Any] = {"username": "", "display_name": "", "role": AGENT}
    values.update(form or {})
    return render(
        request,
        "users.html",
        status=status,
        title="Users",
        users=users,
        errors=errors,
        error_summary=summary,
        form=values,
        notice=notice,
        roles=ROLES,
    )


@require(ADMIN)
async def users_page(request: Request) -> HTTPResponse:
    """GET /admin/users."""
    return await _page(request)


@require(ADMIN)
async def users_create(request: Request) -> HTTPResponse:
    """POST /admin/users: create an account from the form; problems are shown beside their fields."""
    form = {field: request.form.get(field) or "" for field in FIELDS}

    def create(session: Session) -> int:
        user = create_user(session, form["username"], form["display_name"], form["role"], form["password"])
        return user.id

    try:
        user_id = await in_db(request, create)
    except StaffInputError as exc:
        shown = {k: v for k, v in form.items() if k != "password"}  # never send a password back to the page
        return await _page(request, status=400, errors={exc.field: exc.message}, form=shown)
    return response.redirect(f"/admin/users?created={user_id}", status=303)


async def _switch(request: Request, user_id: int, active: bool) -> HTTPResponse:
    check_id(user_id, "account")
    if user_id == request.ctx.user.id and not active:
        return await _page(request, status=400, errors={"account": "You can't disable your own account."})

    def switch(session: Session) -> bool:
        user = get_user_by_id(session, user_id)
        if user is None:
            return False
        set_active(session, user, active)
        return True

    if not await in_db(request, switch):
        raise NotFound("No such account")
    return response.redirect(f"/admin/users?{'enabled' if active else 'disabled'}={user_id}", status=303)


@require(ADMIN)
async def users_disable(request: Request, user_id: int) -> HTTPResponse:
    """POST /admin/users/<id>/disable."""
    return await _switch(request, user_id, active=False)


@require(ADMIN)
async def users_enable(request: Request, user_id: int) -> HTTPResponse:
    """POST /admin/users/<id>/enable."""
    return await _switch(request, user_id, active=True)


def register(app: Sanic) -> None:
    app.add_route(users_page, "/admin/users", methods=["GET"], name="users_list")
    app.add_route(users_create, "/admin/users", methods=["POST"], name="users_create")
    app.add_route(users_disable, "/admin/users/<user_id:int>/disable", methods=["POST"], name="users_disable")
    app.add_route(users_enable, "/admin/users/<user_id:int>/enable", methods=["POST"], name="users_enable")
