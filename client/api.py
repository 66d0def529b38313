"""The bank's public API as the app sees it: REST over httpx, live push over a WebSocket.

Nothing here knows about Flet or the app's state. Every body is encoded and
decoded with the msgspec Structs of ``shared/``; failures are three kinds the
app treats differently:

- ``ApiError``: the server answered with a problem (4xx/5xx, RFC 9457 body);
- ``Unreachable``: no answer at all (connection refused, reset, timeout): the
  outcome of a command is unknown, so it must be retried with the same
  idempotency key;
- ``SessionExpired``: the tokens are no longer accepted and cannot be refreshed.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

import httpx
import msgspec
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from shared import api as dto
from shared.messages import ClientMessage, Hello, ServerMessage
from shared.notifications import MarkReadRequest, MarkReadResponse, NotificationPage
from shared.security import (
    ChangeEmailRequest,
    ChangePasswordRequest,
    ConfirmEmailChange,
    EmailChanged,
    EmailChangeStarted,
    PasswordChanged,
    PasswordReset,
    PasswordResetConfirm,
    PasswordResetRequest,
    PasswordResetSent,
    ProfileResponse,
    RecoveryCodes,
    SessionList,
    SessionResponse,
    TwoStepCodeRequest,
    TwoStepSetup,
    TwoStepState,
)
from shared.standing_orders import (
    StandingOrderByNumberRequest,
    StandingOrderChange,
    StandingOrderList,
    StandingOrderResponse,
)

T = TypeVar("T")

API_PREFIX = "/api/v1"
USER_AGENT = "Northwind Bank app (Flet)"
_encoder = msgspec.json.Encoder()
_server_messages = msgspec.json.Decoder(ServerMessage)
_client_messages = msgspec.json.Encoder()
_problem = msgspec.json.Decoder(dto.Problem)


class ApiError(Exception):
    """The server refused: ``problem`` says why (``code`` is machine-readable)."""

    def __init__(self, problem: dto.Problem) -> None:
        super().__init__(problem.detail or problem.title)
        self.problem = problem

    @property
    def status(self) -> int:
        return self.problem.status

    @property
    def code(self) -> str:
        return self.problem.code or ""

    @property
    def reason(self) -> str:
        """What to tell the customer."""
        return self.problem.detail or self.problem.title


class Unreachable(Exception):
    """No answer from the bank: the request may or may not have been applied."""


class SessionExpired(Exception):
    """Signed out by the server; queued work must survive a new sign-in."""


class LiveUnsupported(Exception):
    """The server has no WebSocket endpoint (yet): fall back to polling."""


class Tokens(msgspec.Struct, kw_only=True):
    access_token: str
    refresh_token: str | None
    expires_at: float  # time.monotonic() deadline

    @property
    def session_id(self) -> str | None:
        """The session the access token belongs to (its ``sid`` claim; not verified here:
        only used to recognise this device's own sign-in)."""
        try:
            payload = self.access_token.split(".")[1]
            claims = msgspec.json.decode(
                base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            )
        except (IndexError, ValueError, msgspec.DecodeError):
            return None
        sid = claims.get("sid") if isinstance(claims, dict) else None
        return sid if isinstance(sid, str) else None

    @classmethod
    def from_response(cls, r: dto.TokenResponse) -> Tokens:
        return cls(
            access_token=r.access_token,
            refresh_token=r.refresh_token,
            expires_at=time.monotonic() + r.expires_in,
        )


def _json(body: object, **headers: str) -> dict[str, Any]:
    """A request's body in JSON, as ``_send`` and ``_authed`` take it (``headers``: any
    more, e.g. the Idempotency-Key)."""
    return {
        "content": _encoder.encode(body),
        "headers": {"Content-Type": "application/json", **headers},
    }


def _problem_of(resp: httpx.Response) -> dto.Problem:
    try:
        return _problem.decode(resp.content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return dto.Problem(title=resp.reason_phrase or "Error", status=resp.status_code)


class BankApi:
    """One signed-in (or signing-in) customer's connection to the bank."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens: Tokens | None = None
        # Called with each new refresh token (sign-in, rotation), so a kept session follows.
        self.on_refresh_token: Callable[[str], Awaitable[None]] | None = None
        self._refresh_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(
            base_url=self.base_url + API_PREFIX,
            timeout=httpx.Timeout(timeout, connect=3.0),
            # what the customer's list of signed-in devices and the sign-in notice show
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- plumbing ---------------------------------------------------------------

    async def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kw)
        except httpx.TransportError as e:  # refused, reset, timeout: outcome unknown
            raise Unreachable(str(e) or type(e).__name__) from e

    async def _authed(self, method: str, path: str, **kw: Any) -> httpx.Response:
        tokens = self.tokens
        if tokens is None:
            raise SessionExpired("not signed in")
        if tokens.expires_at - time.monotonic() < 30 and tokens.refresh_token:
            tokens = await self.refresh(seen=tokens.access_token)
        headers = dict(kw.pop("headers", {}) or {})
        headers["Authorization"] = f"Bearer {tokens.access_token}"
        resp = await self._send(method, path, headers=headers, **kw)
        if resp.status_code == 401 and tokens.refresh_token:
            tokens = await self.refresh(seen=tokens.access_token)  # SessionExpired if refused
            headers["Authorization"] = f"Bearer {tokens.access_token}"
            resp = await self._send(method, path, headers=headers, **kw)
        if resp.status_code == 401:
            self.tokens = None
            raise SessionExpired(_problem_of(resp).detail or "session expired")
        return resp

    @staticmethod
    def _decode(resp: httpx.Response, type_: type[T]) -> T:
        if resp.status_code >= 400:
            raise ApiError(_problem_of(resp))
        return msgspec.json.decode(resp.content, type=type_)

    # --- auth -------------------------------------------------------------------

    async def register(self, email: str, password: str, full_name: str) -> dto.RegisterResponse:
        body = dto.RegisterRequest(email=email, password=password, full_name=full_name)
        resp = await self._send("POST", "/auth/register", **_json(body))
        return self._decode(resp, dto.RegisterResponse)

    async def sign_in(self, email: str, password: str, otp: str = "") -> None:
        """``otp``: the code of the customer's authenticator app, once the bank has asked
        for it (``ApiError`` code ``two_step_required``)."""
        form = {"grant_type": "password", "username": email, "password": password}
        if otp:
            form["otp"] = otp
        resp = await self._send("POST", "/auth/token", data=form)
        self.tokens = Tokens.from_response(self._decode(resp, dto.TokenResponse))

    def resume(self, refresh_token: str) -> None:
        """A session kept on the device: the next request refreshes first."""
        self.tokens = Tokens(access_token="", refresh_token=refresh_token, expires_at=0.0)

    async def _rotated(self) -> None:
        if self.on_refresh_token and self.tokens and self.tokens.refresh_token:
            await self.on_refresh_token(self.tokens.refresh_token)

    async def refresh(self, seen: str | None = None) -> Tokens:
        """New tokens for the refresh token. One refresh at a time: a refresh token is
        good for one use, so callers that saw the same access token share one refresh."""
        async with self._refresh_lock:
            tokens = self.tokens
            if tokens is None or not tokens.refresh_token:
                raise SessionExpired("session expired")
            if seen is not None and tokens.access_token != seen:
                return tokens  # refreshed meanwhile by another request
            form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
            resp = await self._send("POST", "/auth/token", data=form)
            if resp.status_code >= 400:
                self.tokens = None
                raise SessionExpired(_problem_of(resp).detail or "session expired")
            self.tokens = Tokens.from_response(
                msgspec.json.decode(resp.content, type=dto.TokenResponse)
            )
            await self._rotated()
            return self.tokens

    async def sign_out(self) -> None:
        if self.tokens is None:
            return
        try:
            await self._authed("POST", "/auth/logout")
        except (Unreachable, SessionExpired):
            pass
        self.tokens = None

    async def sessions(self) -> list[SessionResponse] | None:
        """Signed-in devices, or None where the server does not offer the list."""
        resp = await self._authed("GET", "/auth/sessions")
        if resp.status_code in (404, 405):
            return None
        return self._decode(resp, SessionList).items

    async def revoke_session(self, session_id: str) -> None:
        resp = await self._authed("DELETE", f"/auth/sessions/{session_id}")
        if resp.status_code >= 400:
            raise ApiError(_problem_of(resp))

    async def request_password_reset(self, email: str) -> PasswordResetSent:
        """Forgot the password: the bank emails a code (if ``email`` has an account)."""
        resp = await self._send(
            "POST", "/auth/password-reset", **_json(PasswordResetRequest(email=email))
        )
        return self._decode(resp, PasswordResetSent)

    async def reset_password(self, email: str, code: str, new: str) -> PasswordReset:
        body = PasswordResetConfirm(email=email, code=code, new_password=new)
        resp = await self._send("POST", "/auth/password-reset/confirm", **_json(body))
        return self._decode(resp, PasswordReset)

    async def change_password(self, current: str, new: str) -> PasswordChanged:
        body = ChangePasswordRequest(current_password=current, new_password=new)
        resp = await self._authed("POST", "/me/password", **_json(body))
        return self._decode(resp, PasswordChanged)

    async def start_email_change(self, new_email: str, password: str) -> EmailChangeStarted:
        """Ask the bank to email a code to ``new_email`` that moves the account there."""
        body = ChangeEmailRequest(new_email=new_email, password=password)
        resp = await self._authed("POST", "/me/email", **_json(body))
        return self._decode(resp, EmailChangeStarted)

    async def confirm_email_change(self, code: str) -> EmailChanged:
        resp = await self._authed(
            "POST", "/me/email/confirm", **_json(ConfirmEmailChange(code=code))
        )
        return self._decode(resp, EmailChanged)

    async def set_up_two_step(self) -> TwoStepSetup:
        resp = await self._authed("POST", "/me/two-step")
        return self._decode(resp, TwoStepSetup)

    async def confirm_two_step(self, code: str) -> TwoStepState:
        return await self._two_step("/me/two-step/confirm", code)

    async def turn_off_two_step(self, code: str) -> TwoStepState:
        return await self._two_step("/me/two-step/off", code)

    async def new_recovery_codes(self, code: str) -> RecoveryCodes:
        resp = await self._code_sent("/me/two-step/recovery-codes", code)
        return self._decode(resp, RecoveryCodes)

    async def _two_step(self, path: str, code: str) -> TwoStepState:
        return self._decode(await self._code_sent(path, code), TwoStepState)

    async def _code_sent(self, path: str, code: str) -> httpx.Response:
        return await self._authed("POST", path, **_json(TwoStepCodeRequest(code=code)))

    async def profile(self) -> ProfileResponse | None:
        """Who is signed in (name for the greeting), or None where the server has no /me."""
        resp = await self._authed("GET", "/me")
        if resp.status_code in (404, 405):
            return None
        return self._decode(resp, ProfileResponse)

    # --- notifications --------------------------------------------------------------

    async def notifications(self, limit: int = 20) -> NotificationPage | None:
        resp = await self._authed("GET", "/notifications", params={"limit": limit})
        if resp.status_code in (404, 405):
            return None
        return self._decode(resp, NotificationPage)

    async def mark_notifications_read(
        self, up_to: int | None = None, ids: list[int] | None = None
    ) -> MarkReadResponse:
        resp = await self._authed(
            "POST", "/notifications/read", **_json(MarkReadRequest(up_to=up_to, ids=ids or []))
        )
        return self._decode(resp, MarkReadResponse)

    # --- accounts and queries -------------------------------------------------------

    async def accounts(self) -> list[dto.AccountResponse]:
        return self._decode(await self._authed("GET", "/accounts"), dto.AccountList).items

    async def open_account(self, name: str, currency: str) -> dto.AccountResponse:
        body = dto.OpenAccountRequest(currency=currency, name=name)
        resp = await self._authed("POST", "/accounts", **_json(body))
        return self._decode(resp, dto.AccountResponse)

    async def rename_account(self, account_id: UUID, name: str) -> dto.AccountNameResponse:
        """Give the account another name (setting the same name twice changes nothing,
        so a retry needs no idempotency key)."""
        resp = await self._authed(
            "PATCH", f"/accounts/{account_id}", **_json(dto.RenameAccountRequest(name=name))
        )
        return self._decode(resp, dto.AccountNameResponse)

    async def close_account(self, account_id: UUID, key: str) -> dto.AccountStatusResponse:
        """Close the account for good (the bank refuses while money or a hold is on it)."""
        resp = await self._command(f"/accounts/{account_id}/close", dto.FreezeRequest(), key)
        return self._decode(resp, dto.AccountStatusResponse)

    async def account(self, account_id: UUID) -> dto.AccountResponse:
        return self._decode(
            await self._authed("GET", f"/accounts/{account_id}"), dto.AccountResponse
        )

    async def transactions(
        self,
        account_id: UUID,
        *,
        limit: int = 20,
        cursor: str | None = None,
        kind: str | None = None,
        search: str | None = None,
    ) -> dto.TransactionPage:
        """A page of history, newest first; ``search``: only postings whose description
        contains it (any case)."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if kind:
            params["kind"] = kind
        if search:
            params["q"] = search
        resp = await self._authed("GET", f"/accounts/{account_id}/transactions", params=params)
        return self._decode(resp, dto.TransactionPage)

    async def recent_transactions(self, *, limit: int) -> dto.RecentTransactions:
        """The newest postings over all of the customer's accounts, newest first."""
        resp = await self._authed("GET", "/transactions", params={"limit": limit})
        return self._decode(resp, dto.RecentTransactions)

    async def analytics(self, account_id: UUID, start: date, end: date) -> dto.AnalyticsResponse:
        params = {"from": start.isoformat(), "to": end.isoformat()}
        resp = await self._authed("GET", f"/accounts/{account_id}/analytics", params=params)
        return self._decode(resp, dto.AnalyticsResponse)

    async def limits(self, account_id: UUID) -> dto.AccountLimitsResponse | None:
        """The account's outgoing limits and what is left today, or None where the bank
        does not show them."""
        resp = await self._authed("GET", f"/accounts/{account_id}/limits")
        if resp.status_code == 405 or (resp.status_code == 404 and not _problem_of(resp).code):
            return None
        return self._decode(resp, dto.AccountLimitsResponse)

    async def pending_holds(self, account_id: UUID) -> list[dto.PendingHoldResponse] | None:
        """Funds held on the account (pending card payments and transfers), or None
        where the bank does not list holds."""
        resp = await self._authed("GET", f"/accounts/{account_id}/holds")
        if resp.status_code == 405 or (resp.status_code == 404 and not _problem_of(resp).code):
            return None
        return self._decode(resp, dto.HoldList).items

    # --- payees and statements ---------------------------------------------------------

    async def payees(self) -> list[dto.PayeeResponse] | None:
        """The customer's saved payees, or None where the bank cannot list them yet."""
        resp = await self._authed("GET", "/payees")
        if resp.status_code in (404, 405):
            return None
        return self._decode(resp, dto.PayeeList).items

    async def add_payee(
        self, account_number: str, holder_name: str, nickname: str
    ) -> dto.PayeeResponse:
        body = dto.AddPayeeRequest(
            account_number=account_number, holder_name=holder_name, nickname=nickname
        )
        resp = await self._authed("POST", "/payees", **_json(body))
        return self._decode(resp, dto.PayeeResponse)

    async def standing_orders(self) -> list[StandingOrderResponse] | None:
        """The customer's standing orders, or None where the bank has none to list."""
        resp = await self._authed("GET", "/standing-orders")
        if resp.status_code in (404, 405):
            return None
        return self._decode(resp, StandingOrderList).items

    async def create_standing_order(
        self, order: StandingOrderByNumberRequest, key: str
    ) -> StandingOrderResponse:
        """Pay to an account number on a date and then weekly or monthly; the key makes
        a retry the same order."""
        resp = await self._command("/standing-orders/by-account-number", order, key)
        return self._decode(resp, StandingOrderResponse)

    async def standing_order(self, order_id: UUID) -> StandingOrderResponse:
        """One order with every payment it made or tried."""
        resp = await self._authed("GET", f"/standing-orders/{order_id}")
        return self._decode(resp, StandingOrderResponse)

    async def change_standing_order(
        self, order_id: UUID, change: StandingOrderChange
    ) -> StandingOrderResponse:
        """A new amount and reference from the order's next payment on (the same values
        again change nothing, so a retry needs no idempotency key)."""
        resp = await self._authed("PATCH", f"/standing-orders/{order_id}", **_json(change))
        return self._decode(resp, StandingOrderResponse)

    async def cancel_standing_order(self, order_id: UUID) -> StandingOrderResponse:
        resp = await self._authed("POST", f"/standing-orders/{order_id}/cancel")
        return self._decode(resp, StandingOrderResponse)

    async def resume_standing_order(self, order_id: UUID) -> StandingOrderResponse:
        """A suspended order pays again from its next date (a retry answers it as is)."""
        resp = await self._authed("POST", f"/standing-orders/{order_id}/resume")
        return self._decode(resp, StandingOrderResponse)

    async def forget_payee(self, account_number: str) -> None:
        """Forget a saved payee; one the bank no longer has counts as forgotten."""
        number = "".join(account_number.split())
        resp = await self._authed("DELETE", f"/payees/{number}")
        if resp.status_code >= 400 and _problem_of(resp).code != "payee_not_found":
            raise ApiError(_problem_of(resp))

    async def statement(self, account_id: UUID, month: str, fmt: str) -> bytes:
        """A monthly statement's file (CSV or PDF), fetched with the bearer token."""
        resp = await self._authed(
            "GET",
            f"/accounts/{account_id}/statements/{month}",
            params={"format": fmt},
            headers={"Accept": "application/pdf" if fmt == "pdf" else "text/csv"},
        )
        if resp.status_code >= 400:
            raise ApiError(_problem_of(resp))
        return resp.content

    # --- commands (each carries its idempotency key) ---------------------------------

    async def _command(self, path: str, body: msgspec.Struct, key: str) -> httpx.Response:
        return await self._authed("POST", path, **_json(body, **{dto.IDEMPOTENCY_KEY: key}))

    async def deposit(
        self, account_id: UUID, amount: int, description: str, key: str
    ) -> dto.MoneyMovementResponse:
        body = dto.MoneyMovementRequest(amount=amount, description=description)
        resp = await self._command(f"/accounts/{account_id}/deposits", body, key)
        return self._decode(resp, dto.MoneyMovementResponse)

    async def withdraw(
        self, account_id: UUID, amount: int, description: str, key: str
    ) -> dto.MoneyMovementResponse:
        body = dto.MoneyMovementRequest(amount=amount, description=description)
        resp = await self._command(f"/accounts/{account_id}/withdrawals", body, key)
        return self._decode(resp, dto.MoneyMovementResponse)

    async def transfer(
        self, from_id: UUID, to_id: UUID, amount: int, description: str, key: str
    ) -> dto.TransferResponse:
        body = dto.TransferRequest(
            from_account_id=from_id, to_account_id=to_id, amount=amount, description=description
        )
        resp = await self._command("/transfers", body, key)
        return self._decode(resp, dto.TransferResponse)

    async def transfer_to_number(
        self, from_id: UUID, to_number: str, amount: int, description: str, key: str
    ) -> dto.TransferResponse:
        """A payment to an account named by its number (a payee, or one typed)."""
        body = dto.TransferByNumberRequest(
            from_account=str(from_id),
            to_account_number=to_number,
            amount=amount,
            description=description,
        )
        resp = await self._command("/transfers/by-account-number", body, key)
        return self._decode(resp, dto.TransferResponse)

    # --- live push -----------------------------------------------------------------

    async def live(self, last_versions: dict[UUID, int]) -> AsyncIterator[ServerMessage]:
        """Yield server messages until the connection drops (then Unreachable)."""
        if self.tokens is None:
            raise SessionExpired("not signed in")
        ws_url = self.base_url.replace("http", "ws", 1) + API_PREFIX + "/ws"
        try:
            conn: ClientConnection = await ws_connect(
                f"{ws_url}?token={self.tokens.access_token}",
                open_timeout=5,
                ping_interval=15,
                ping_timeout=10,
            )
        except websockets.InvalidStatus as e:
            status = e.response.status_code
            if status in (401, 403):
                raise SessionExpired("live connection refused") from e
            raise LiveUnsupported(f"HTTP {status}") from e
        except (OSError, TimeoutError, websockets.WebSocketException) as e:
            raise Unreachable(str(e) or type(e).__name__) from e
        try:
            hello: ClientMessage = Hello(last_versions=last_versions)
            await conn.send(_client_messages.encode(hello).decode())
            async for raw in conn:
                try:
                    yield _server_messages.decode(raw)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue  # a message type this app version does not know
        except websockets.ConnectionClosed as e:
            raise Unreachable("live connection closed") from e
        finally:
            await conn.close()
        raise Unreachable("live connection closed")
