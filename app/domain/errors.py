"""The one application error tree; the web layer maps it to responses in one place."""


class AppError(Exception):
    """Base of every error the application means to show a user."""


class NotFound(AppError):
    pass


class Conflict(AppError):
    pass


class InvalidInput(AppError):
    pass


class Unauthorized(AppError):
    pass


class Unavailable(AppError):
    """A backing service (database, bus) cannot be reached right now."""


class Forbidden(AppError):
    """The signed-in user may not do this in their own tenant (their role does not allow it)."""


class Gone(AppError):
    """A one-time link that was used, withdrawn or has expired."""
