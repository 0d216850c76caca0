"""Who may open what. A route a user may not use answers 404, like a page that does not exist:
a 403 would tell an outsider that the thing is there.

A privileged user who has not passed the second factor is not signed in at all (see
`auth.load_user`); `roles_required` checks it once more, so that a change to the loader cannot
open a privileged page on a password alone."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user, login_required

from ..enums import Role
from .auth import second_factor_passed

F = TypeVar("F", bound=Callable[..., Any])


def roles_required(*roles: Role) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(404)
            if not second_factor_passed():
                abort(404)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


SUBMITTERS = (Role.REPORTER, Role.VERIFIER, Role.COORDINATOR)
VERIFIERS = (Role.VERIFIER, Role.COORDINATOR)
COORDINATORS = (Role.COORDINATOR,)
ADMINS = (Role.ADMIN,)
