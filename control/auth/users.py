"""User accounts managed by people: list, create, change role, link to an
agent extension, disable, remove, reset password, reset two-factor.

Each function is ``fn(session, *, actor, ...)`` and writes its audit entry in
the caller's transaction. Who may do what is decided here, from the actor's
role as stored now (not the role in a token up to 15 minutes old):

- admins manage every user; supervisors manage agents' accounts only and
  grant no role above agent; a tool (the CLI, the seed: no user id) is root
  on the server and may do anything an admin may;
- nobody raises their own role (403, field ``role``);
- the last active admin cannot be removed, disabled or demoted (409 naming
  the field), or nobody could manage users from the product any more.

Disabling a user, removing it or resetting its password revokes its refresh
tokens: its sessions end within an access token's life (15 minutes).
"""

from __future__ import annotations

import secrets as _random
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from control.acd.agents import EXTENSION_RE
from control.acd.models import Agent
from control.auth.audit import Actor, record
from control.auth.models import RefreshToken, Role, User
from control.auth.service import MIN_PASSWORD, create_user, hash_password
from control.errors import Conflict, Forbidden, InvalidInput, NotFound

# nobody raises their own rank
RANK = {Role.AGENT.value: 0, Role.SUPERVISOR.value: 1, Role.ADMIN.value: 2}
MAX_PASSWORD = 1024  # what login reads


def summary(user: User) -> dict[str, Any]:
    """What the admin page shows of a user: never the hash nor the TOTP secret."""
    return {**user.as_dict(), "two_factor": user.totp_secret is not None,
            "last_login_at": user.last_login_at, "created_at": user.created_at}


def _actor_role(session: Session, actor: Actor) -> str:
    if actor.user_id is None:  # the CLI or the seed, on the server itself
        return Role.ADMIN.value
    me = session.get(User, actor.user_id)
    if me is None or not me.active:
        raise Forbidden("user", "your account is disabled or gone")
    return me.role


def _role(value: str) -> str:
    if value not in RANK:
        raise InvalidInput("role", f"{value!r} is not one of admin, supervisor, agent")
    return value


def _may_manage(session: Session, actor: Actor, target: User) -> str:
    """The actor's role, if it may change ``target`` at all."""
    role = _actor_role(session, actor)
    if role == Role.AGENT.value:
        raise Forbidden("user", "agents do not manage accounts")
    if role == Role.SUPERVISOR.value and target.role != Role.AGENT.value \
            and target.id != actor.user_id:
        raise Forbidden("user", "supervisors manage agents' accounts only")
    return role


def _may_grant(actor: Actor, actor_role: str, target: User | None, role: str) -> None:
    if target is not None and target.id == actor.user_id and RANK[role] > RANK[target.role]:
        raise Forbidden("role", "you cannot raise your own role")
    if actor_role != Role.ADMIN.value and role != Role.AGENT.value:
        raise Forbidden("role", f"a {actor_role} grants only the role agent")


def _other_active_admins(session: Session, user: User) -> int:
    # the active admins' rows locked (PostgreSQL; SQLite writes one at a time):
    # two admins demoting each other at once cannot both pass this check
    admins = session.scalars(select(User.id).where(
        User.role == Role.ADMIN.value, User.active.is_(True)).order_by(User.id)
        .with_for_update()).all()
    return sum(1 for admin_id in admins if admin_id != user.id)


def _keep_an_admin(session: Session, user: User, field: str, what: str) -> None:
    if user.role == Role.ADMIN.value and user.active and not _other_active_admins(session, user):
        raise Conflict(f"{user.email} is the last active admin: it cannot be {what} "
                       "(make another admin first)", field)


def _agent_extension(session: Session, extension: str) -> str:
    if not EXTENSION_RE.match(extension):
        raise InvalidInput("agent_extension", "2 to 8 digits, not starting with 0")
    if session.scalar(select(Agent.id).where(Agent.extension == extension)) is None:
        raise InvalidInput("agent_extension", f"no agent with extension {extension}")
    return extension


def _password(password: str | None) -> tuple[str, str | None]:
    """The password to set and, when none was given, the generated one (shown once)."""
    if password is None:
        generated = _random.token_urlsafe(12)
        return generated, generated
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", f"at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput("password", f"at most {MAX_PASSWORD} characters")
    return password, None


def _revoke_sessions(session: Session, user: User) -> None:
    session.execute(update(RefreshToken).where(RefreshToken.user_id == user.id,
                                               RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=datetime.now(UTC)))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user", str(user_id), "id")
    return user


def find_user(session: Session, email: str) -> User:
    """A user by e-mail (the CLI's handle), any case."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound("user", email.strip().lower(), "email")
    return user


def list_users(session: Session, *, actor: Actor) -> list[User]:
    if _actor_role(session, actor) == Role.AGENT.value:
        raise Forbidden("user", "agents do not manage accounts")
    return list(session.scalars(select(User).order_by(User.email)))


def add_user(session: Session, *, actor: Actor, email: str, role: str,
             password: str | None = None,
             agent_extension: str | None = None) -> tuple[User, str | None]:
    """A new user; without a password one is generated and returned (shown once)."""
    actor_role = _actor_role(session, actor)
    if actor_role == Role.AGENT.value:
        raise Forbidden("user", "agents do not manage accounts")
    _may_grant(actor, actor_role, None, _role(role))
    password, generated = _password(password)
    if agent_extension is not None:
        _agent_extension(session, agent_extension)
    user = create_user(session, actor=actor, email=email, role=role, password=password,
                       agent_extension=agent_extension)
    return user, generated


def update_user(session: Session, *, actor: Actor, user_id: int, role: str | None = None,
                agent_extension: str | None = None, unlink_agent: bool = False,
                active: bool | None = None) -> User:
    """Change the role, the agent extension (``unlink_agent``: none) or
    whether the account may sign in. None: unchanged."""
    user = get_user(session, user_id)
    actor_role = _may_manage(session, actor, user)
    before = user.as_dict()
    if role is not None and role != user.role:
        _may_grant(actor, actor_role, user, _role(role))
        if RANK[role] < RANK[Role.ADMIN.value]:
            _keep_an_admin(session, user, "role", "demoted")
    if active is False and user.active:
        if user.id == actor.user_id:
            raise Conflict("you cannot disable your own account", "active")
        _keep_an_admin(session, user, "active", "disabled")
    if role is not None:
        user.role = role
    if unlink_agent:
        user.agent_extension = None
    elif agent_extension is not None:
        user.agent_extension = _agent_extension(session, agent_extension)
    if active is not None:
        if not active:
            _revoke_sessions(session, user)
        user.active = active
    session.flush()
    after = user.as_dict()
    if after != before:
        record(session, actor, "update", "users", user.id, before=before, after=after)
    return user


def remove_user(session: Session, *, actor: Actor, user_id: int) -> dict[str, Any]:
    user = get_user(session, user_id)
    _may_manage(session, actor, user)
    if user.id == actor.user_id:
        raise Conflict("you cannot remove your own account", "id")
    _keep_an_admin(session, user, "id", "removed")
    before = user.as_dict()
    session.delete(user)  # its refresh tokens go with it (ON DELETE CASCADE, and here)
    session.execute(update(RefreshToken).where(RefreshToken.user_id == user_id)
                    .values(revoked_at=datetime.now(UTC)))
    session.flush()
    record(session, actor, "delete", "users", user_id, before=before)
    return before


def reset_password(session: Session, *, actor: Actor, user_id: int,
                   password: str | None = None) -> tuple[User, str | None]:
    """A new password (given, or generated and returned once); the lock-out
    is lifted and every session of the user ends."""
    user = get_user(session, user_id)
    _may_manage(session, actor, user)
    password, generated = _password(password)
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    _revoke_sessions(session, user)
    record(session, actor, "reset_password", "users", user.id,
           after={"password": "changed", "generated": generated is not None})
    return user, generated


def reset_totp(session: Session, *, actor: Actor, user_id: int) -> User:
    """Remove the second factor (a lost phone): password only until the user
    enrols again (``aitcomms user totp``)."""
    user = get_user(session, user_id)
    _may_manage(session, actor, user)
    had = user.totp_secret is not None
    user.totp_secret = None
    record(session, actor, "reset_totp", "users", user.id, before={"totp": had},
           after={"totp": False})
    return user
