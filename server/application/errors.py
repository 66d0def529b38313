"""Errors of the application layer (not business rules of an aggregate)."""

from __future__ import annotations

from server.domain import errors as domain
from server.domain.errors import DomainError


class IdempotencyKeyReusedError(DomainError):
    code = "idempotency_key_reused"


class ConflictRetriesExhaustedError(DomainError):
    code = "concurrency_conflict"


class PermissionDeniedError(DomainError):
    code = "forbidden"


class EmailTakenError(DomainError):
    code = "email_taken"


class InvalidCredentialsError(DomainError):
    code = "invalid_grant"


class DestinationNotFoundError(domain.BusinessRuleError):
    code = "destination_account_not_found"


def _rule_errors() -> dict[str, type[domain.BusinessRuleError]]:
    found: dict[str, type[domain.BusinessRuleError]] = {}
    stack: list[type[domain.BusinessRuleError]] = [domain.BusinessRuleError]
    while stack:
        cls = stack.pop()
        found[cls.code] = cls
        stack.extend(cls.__subclasses__())
    return found


def rule_error_from_code(
    code: str, message: str, remaining_today: int | None = None
) -> domain.BusinessRuleError:
    """Rebuild a stored rejection (idempotent replay of a refused command); a limit
    refusal carries what was left today when it was first refused."""
    cls = _rule_errors().get(code, domain.BusinessRuleError)
    err: domain.BusinessRuleError
    if issubclass(cls, domain.LimitExceededError):
        err = cls(message, remaining_today)
    else:
        err = cls(message)
    err.code = code
    return err


class TooManyAttemptsError(DomainError):
    """Locked out or rate limited: answered 429 with Retry-After."""

    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class WrongPasswordError(DomainError):
    code = "wrong_password"


class TransactionNotFoundError(domain.AccountNotFoundError):
    code = "transaction_not_found"


class SessionNotFoundError(DomainError):
    code = "session_not_found"


class UserNotFoundError(DomainError):
    code = "user_not_found"


class TwoStepRequiredError(InvalidCredentialsError):
    """The password was right; this customer's sign-in also needs a code."""

    code = "two_step_required"


class WrongTwoStepCodeError(DomainError):
    """A code that is not the authenticator app's current one, or was used (422: the
    request was well formed)."""

    code = "wrong_two_step_code"


class WrongSignInCodeError(InvalidCredentialsError):
    """The same at the token endpoint, where every refused grant is a 400 (RFC 6749)."""

    code = "wrong_two_step_code"


class TwoStepAlreadyOnError(DomainError):
    code = "two_step_already_on"


class TwoStepNotStartedError(DomainError):
    code = "two_step_not_started"


class TwoStepNotOnError(DomainError):
    """Asked of two-step sign-in while it is off (new recovery codes)."""

    code = "two_step_not_on"


class TwoStepUnavailableError(DomainError):
    """A stored two-step secret that does not open (the key it was sealed with is gone):
    no code can be checked, and none is skipped. Answered 503; operators restore the key
    or the customer sets two-step sign-in up again (docs/adr/0902)."""

    code = "two_step_unavailable"
    retry_after = 300


class WrongResetCodeError(DomainError):
    """A password-reset code that is not the one emailed, was used, or expired (422:
    the request was well formed). Counts towards the sign-in lockout."""

    code = "wrong_reset_code"


class WrongEmailCodeError(DomainError):
    """An email-change code that is not the one sent to the new address, was used, or
    expired (422: the request was well formed). Counts towards the sign-in lockout."""

    code = "wrong_email_code"


class SameEmailError(DomainError):
    """Asked to move the account to the address it has."""

    code = "same_email"


class MailUnavailableError(DomainError):
    """An email could not be handed to the mail provider: nothing was sent (503)."""

    code = "mail_unavailable"
    retry_after = 60
