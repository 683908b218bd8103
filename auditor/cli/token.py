"""`forkaudit token create NAME`: a new API token for user NAME (created if missing), printed alone on stdout."""

from __future__ import annotations

import argparse
from typing import Any

from auditor.cli.common import EXIT_OK, UsageError, setup_django


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "token",
        help="manage API tokens",
        description="Manage the tokens that API clients send as `Authorization: Token <key>`.",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser(
        "create",
        help="print a new token for user NAME",
        description="Print a new API token for user NAME, creating the user (with no usable password) if missing. "
        "A user has one token: a previous token of NAME stops working.",
    )
    create.add_argument("name", metavar="NAME", help="the user name (letters, digits and @.+-_)")
    create.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    setup_django()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.validators import UnicodeUsernameValidator
    from django.core.exceptions import ValidationError
    from django.db import transaction
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    max_length = user_model._meta.get_field(user_model.USERNAME_FIELD).max_length or 150
    try:
        UnicodeUsernameValidator()(args.name)
    except ValidationError:
        raise UsageError(f"not a valid user name: {args.name!r} (letters, digits and @.+-_ only)") from None
    if len(args.name) > max_length:
        raise UsageError(f"user name longer than {max_length} characters")
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(**{user_model.USERNAME_FIELD: args.name})
        if created:
            user.set_unusable_password()  # an API user: it authenticates with its token, never a password
            user.save(update_fields=["password"])
        elif not user.is_active:
            raise UsageError(f"user {args.name!r} is deactivated; reactivate it in the admin first")
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
    print(token.key)
    return EXIT_OK
