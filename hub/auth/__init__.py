"""Authentication: web login, bearer tokens, and the `requires` permission decorator."""

from hub.auth.credentials import ROLES, CredentialError, create_token, create_user
from hub.auth.guard import Principal, current_principal, requires
from hub.auth.views import bp, csrf_token

__all__ = ["ROLES", "CredentialError", "Principal", "bp", "create_token", "create_user",
           "csrf_token", "current_principal", "requires"]
