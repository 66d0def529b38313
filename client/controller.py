"""The app's use cases: sign in, keep balances live, move money, sync the offline queue.

It drives ``BankApi`` and updates ``AppState``; views call it and listen to the
state. Every money movement goes through the device queue: it is stored with its
idempotency key before the first attempt, so neither a lost connection nor a
closed app can lose or double it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import msgspec

from client.api import (
    ApiError,
    BankApi,
    LiveUnsupported,
    SessionExpired,
    Unreachable,
)
from client.cache import OfflineCache
from client.device_security import DeviceStoreSecrets, NoDeviceAuth
from client.state import (
    QUEUE_KEY,
    AppState,
    MovementKind,
    QueuedMovement,
    decode_queue,
    encode_queue,
)
from client.store import DeviceStore
from client.unlock import SessionVault, StoredSession
from shared.api import (
    AccountLimitsResponse,
    AccountResponse,
    AnalyticsResponse,
    MoneyMovementResponse,
    PayeeResponse,
    PendingHoldResponse,
    TransactionPage,
    TransactionResponse,
    TransferResponse,
)
from shared.messages import (
    AccountNameChanged,
    AccountStatusChanged,
    BalanceChanged,
    NotificationReceived,
    ServerMessage,
    Welcome,
)
from shared.messages import Error as LiveError
from shared.notifications import SESSION_KINDS, Notification
from shared.security import SessionResponse, TwoStepSetup
from shared.standing_orders import (
    StandingOrderByNumberRequest,
    StandingOrderChange,
    StandingOrderResponse,
)
from shared.words import counted

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # balance refresh while there is no live push
RETRY_LIVE_SECONDS = 30.0  # how often to try the WebSocket again while polling
MAX_BACKOFF = 5.0
RETRYABLE_STATUS = {409, 429, 500, 502, 503, 504}
MAX_CONFLICT_ATTEMPTS = 5


class Controller:
    def __init__(
        self,
        state: AppState,
        store: DeviceStore,
        vault: SessionVault | None = None,
        cache: OfflineCache | None = None,
    ) -> None:
        self.state = state
        self.store = store
        self.vault = vault or SessionVault(DeviceStoreSecrets(store), NoDeviceAuth())
        self.cache = cache or OfflineCache(store)
        self.api = self._new_api()
        self._sync_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._queue_dirty = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cache_save: asyncio.Task[None] | None = None
        self._payee_edits = 0  # payees added or forgotten on this device so far
        state.listen(self._on_state)

    def _on_state(self, topic: str, payload: object) -> None:
        """Keep the device's copy as new as what was shown (pushes, own movements)."""
        if topic != "accounts" or not self.state.signed_in or self.state.as_of is not None:
            return
        if self._cache_save is None or self._cache_save.done():
            self._cache_save = self.spawn(self._remember_accounts())

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run in the background on this loop (page.run_task needs a connected browser)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        self._stop_sync()
        await self.api.aclose()

    # --- device storage ---------------------------------------------------------------

    async def load_queue(self) -> None:
        items = decode_queue(await self.store.get(QUEUE_KEY))
        for item in items:
            if item.status == "sending":  # the app stopped mid-request: outcome unknown
                item.status = "pending"
        self.state.queue = items
        self.state.notify("queue")

    async def persist_queue(self) -> None:
        self.state.trim_finished()
        try:
            await self.store.set(QUEUE_KEY, encode_queue(self.state.queue))
            self._queue_dirty = False
        except Exception as e:  # noqa: BLE001 - the device is away; the copy in memory stays
            self._queue_dirty = True
            log.warning("queue not persisted yet: %s", e)

    async def on_device_reconnected(self) -> None:
        if self._queue_dirty:
            await self.persist_queue()

    # --- session ------------------------------------------------------------------------

    def _new_api(self) -> BankApi:
        api = BankApi(self.state.api_url)
        api.on_refresh_token = self.vault.rotated
        return api

    def set_api_url(self, url: str) -> None:
        self.state.api_url = url.rstrip("/")
        old = self.api
        self.api = self._new_api()
        self.spawn(old.aclose())

    async def register(self, email: str, password: str, full_name: str) -> None:
        await self.api.register(email, password, full_name)
        await self.sign_in(email, password)

    async def sign_in(self, email: str, password: str, otp: str = "") -> None:
        await self.api.sign_in(email, password, otp)
        # A password sign-in replaces whatever session this device kept.
        stored = await self.vault.stored()
        if stored is not None and stored.email.lower() != email.lower():
            await self.vault.forget()
        self.vault.lock()
        self.state.email = email
        self.state.notice = ""
        self.state.set_online(True)
        try:
            await self._load_profile()
            self.state.set_accounts(await self.api.accounts())
            await self._remember_accounts()
        except Unreachable:
            self.state.set_online(False)
        self.state.notify("session")
        self._start_sync()

    async def resume(self, stored: StoredSession, refresh_token: str) -> None:
        """Unlocked on the device: show what it kept, then catch up with the bank."""
        self.api.resume(refresh_token)
        self.state.email = stored.email
        self.state.full_name = stored.full_name
        self.state.notice = ""
        snap = await self.cache.load(stored.email)
        if snap is not None:
            self.state.full_name = snap.full_name or stored.full_name
            self.state.can_deposit = snap.can_deposit
            self.state.user_id = snap.user_id  # what is queued before the bank answers is hers
            self.state.show_cached(snap.accounts, snap.saved_at)
            self.state.set_payees(None, snap.payees)
        self.state.set_online(False)
        self.state.notify("session")
        self._start_sync()

    async def _load_profile(self) -> None:
        try:
            me = await self.api.profile()
        except ApiError as e:
            log.info("no profile: %s", e)
            return
        if me is None:
            return
        known, self.state.user_id = self.state.user_id, me.id
        if self.state.email and me.email.lower() != self.state.email.lower():
            await self._email_moved(self.state.email, me.email, me.id)
        else:
            await self._own_queued(me.id, me.email)
        if (
            me.full_name,
            me.can_deposit,
            me.two_step,
            me.recovery_codes_left,
            me.email_change_pending_to,
        ) != (
            self.state.full_name,
            self.state.can_deposit,
            self.state.two_step,
            self.state.recovery_codes_left,
            self.state.email_change_pending_to,
        ):
            self.state.full_name, self.state.can_deposit = me.full_name, me.can_deposit
            self.state.two_step = me.two_step
            self.state.recovery_codes_left = me.recovery_codes_left
            self.state.email_change_pending_to = me.email_change_pending_to
            self.state.notify("profile")
        if known != me.id:  # kept for a cold start offline
            await self._remember_accounts()

    async def _email_moved(self, old: str, new: str, user_id: UUID | None) -> None:
        """The bank says this customer's email is ``new`` (changed here or on another
        device): what the device keeps under ``old`` (queued payments, the offline
        cache, a kept session) is kept under ``new``."""
        self.state.email = new
        await self._own_queued(user_id, new, old)
        await self.cache.move(old, new)
        await self.vault.moved(old, new)
        self.state.notify("profile")

    async def _own_queued(self, user_id: UUID | None, email: str, old: str | None = None) -> None:
        """Payments this customer queued under another email of theirs are theirs under
        ``email``, sent as them, not left unsent: under ``old``, the one the bank just
        replaced, and under any, for those that carry their ``user_id`` (this device
        never heard of the change: signed in again with the new email)."""
        moved = [
            q
            for q in self.state.queue
            if q.owner != email
            and (
                (user_id is not None and q.owner_id == user_id)
                or (old is not None and q.owner.lower() == old.lower())
            )
        ]
        for item in moved:
            item.owner = email
        if moved:
            await self.persist_queue()
            self.state.notify("queue")

    async def start_email_change(self, new_email: str, password: str) -> str:
        """Ask the bank to email a code to ``new_email``; what it said to do next."""
        started = await self.api.start_email_change(new_email, password)
        self.state.email_change_pending_to = started.sent_to
        self.state.notify("profile")
        return started.detail

    async def confirm_email_change(self, code: str) -> str:
        """Move the account with the code emailed to the new address; the new email."""
        changed = await self.api.confirm_email_change(code)
        self.state.email_change_pending_to = None
        old = self.state.email or changed.email  # signed in: the one the bank replaced
        await self._email_moved(old, changed.email, self.state.user_id)  # says "profile"
        return changed.email

    async def _remember_accounts(self) -> None:
        if self.state.email:
            await self.cache.save_accounts(
                self.state.email,
                list(self.state.accounts.values()),
                self.state.full_name,
                self.state.can_deposit,
                self.state.user_id,
            )

    # --- staying signed in ------------------------------------------------------------

    async def keep_with_pin(self, pin: str) -> None:
        tokens = self.api.tokens
        if tokens is None or not tokens.refresh_token or self.state.email is None:
            raise SessionExpired("sign in again to keep this session")
        await self.vault.remember_with_pin(
            self.state.email, self.state.full_name, self.state.api_url, tokens.refresh_token, pin
        )

    async def keep_with_device(self) -> bool:
        tokens = self.api.tokens
        if tokens is None or not tokens.refresh_token or self.state.email is None:
            raise SessionExpired("sign in again to keep this session")
        return await self.vault.remember_with_device(
            self.state.email, self.state.full_name, self.state.api_url, tokens.refresh_token
        )

    async def stop_keeping(self) -> None:
        await self.vault.forget()

    async def _wipe_device(self, email: str | None) -> None:
        """What sign-out leaves behind: nothing but the queue of unsent movements.

        A device store that does not answer (the browser's storage was seen timing out
        on a loaded host) is logged and the next step tried: signing out never fails
        because of it, and waits on it at most the store's timeout a step. A kept session
        left behind then unlocks to a refresh token the bank no longer takes, so the
        customer signs in again."""
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("the kept session", self.vault.forget)
        ]
        if email:
            steps.append(("the offline copy", lambda: self.cache.forget(email)))
        for what, step in steps:  # each begun only when its turn comes
            try:
                await step()
            except Exception as e:  # noqa: BLE001 - any failure of the device's storage
                log.warning("signing out could not clear %s on this device: %r", what, e)

    async def sign_out(self, everywhere: bool = False) -> None:
        self._stop_sync()
        if everywhere:
            try:
                for s in await self.api.sessions() or []:
                    if not s.current:
                        await self.api.revoke_session(s.id)
            except (ApiError, Unreachable, SessionExpired) as e:
                log.info("could not revoke other sessions: %s", e)
        email = self.state.email
        await self.api.sign_out()
        await self._wipe_device(email)
        self.state.sign_out()

    async def sessions(self) -> list[SessionResponse] | None:
        return await self.api.sessions()

    async def revoke_session(self, session_id: str) -> None:
        await self.api.revoke_session(session_id)

    async def set_up_two_step(self) -> TwoStepSetup:
        """A new secret for the customer's authenticator app (nothing changes yet)."""
        return await self.api.set_up_two_step()

    async def set_two_step(self, on: bool, code: str) -> list[str]:
        """Turn two-step sign-in on (confirming the secret just set up) or off, with a
        code of the authenticator app (off: or a recovery code); turned on, the recovery
        codes it came with, to show once."""
        api = self.api.confirm_two_step if on else self.api.turn_off_two_step
        answer = await api(code)
        self.state.two_step = answer.two_step
        self.state.recovery_codes_left = len(answer.recovery_codes)
        self.state.notify("profile")
        return answer.recovery_codes

    async def new_recovery_codes(self, code: str) -> list[str]:
        """New recovery codes (the earlier ones stop working), for a current code."""
        codes = (await self.api.new_recovery_codes(code)).recovery_codes
        self.state.recovery_codes_left = len(codes)
        self.state.notify("profile")
        return codes

    async def request_password_reset(self, email: str) -> str:
        """Ask the bank to email a code to reset a forgotten password; what it says."""
        return (await self.api.request_password_reset(email)).detail

    async def reset_password(self, email: str, code: str, new: str) -> None:
        """Set a new password with the emailed code (every session of it ends)."""
        await self.api.reset_password(email, code, new)

    async def change_password(self, current: str, new: str) -> int:
        """How many other sessions the bank ended (this one stays signed in)."""
        return (await self.api.change_password(current, new)).other_sessions_ended

    def _expired(self) -> None:
        self._stop_sync()
        n = len(self.state.pending())
        kept = (
            f" Your {counted(n, 'queued payment')} {'is' if n == 1 else 'are'} kept and will be"
            " sent after you sign in."
            if n
            else ""
        )
        # The bank refused the tokens (expired, revoked, signed out everywhere): what the
        # device kept of this session goes too.
        self.spawn(self._wipe_device(self.state.email))
        self.state.sign_out(notice="Your session has expired. Please sign in again." + kept)

    # --- queries ------------------------------------------------------------------------

    async def refresh_accounts(self) -> None:
        self.state.set_accounts(await self.api.accounts())
        self.state.set_online(True)
        await self._remember_accounts()

    def _own_doing(self, n: Notification) -> bool:
        """A sign-in or password change made on this device: no news to it."""
        tokens = self.api.tokens
        return (
            n.kind in SESSION_KINDS
            and not n.read
            and tokens is not None
            and n.session_id is not None
            and n.session_id == tokens.session_id
        )

    async def load_notifications(self) -> None:
        page = await self.api.notifications()
        if page is None:
            return
        own = [n.id for n in page.items if self._own_doing(n)]
        unread = page.unread
        if own:  # what this device did itself is no news to it
            unread = (await self.api.mark_notifications_read(ids=own)).unread
        items = [msgspec.structs.replace(n, read=True) if n.id in own else n for n in page.items]
        self.state.set_notifications(items, unread)

    async def _received(self, n: Notification) -> None:
        if self._own_doing(n):
            n = msgspec.structs.replace(n, read=True)
            try:
                await self.api.mark_notifications_read(ids=[n.id])
            except (ApiError, Unreachable) as e:
                log.info("could not mark own doing read: %s", e)
        self.state.add_notification(n)

    async def mark_notifications_read(self) -> None:
        if not self.state.notifications or not self.state.unread:
            return
        newest = self.state.notifications[0].id
        answer = await self.api.mark_notifications_read(newest)
        self.state.notifications = [
            msgspec.structs.replace(n, read=True) if n.id <= newest else n
            for n in self.state.notifications
        ]
        self.state.unread = answer.unread
        self.state.notify("notification")

    # --- payees -----------------------------------------------------------------------

    async def load_payees(self) -> None:
        """The bank's list of payees joined with those kept on the device; the kept ones
        alone while the bank is unreachable or cannot list them yet."""
        email = self.state.email
        if email is None:
            return
        edits = self._payee_edits
        try:
            listed = await self.api.payees()
        except Unreachable:
            listed = None
        if self._payee_edits != edits:  # added or forgotten meanwhile: the list is older
            listed = None
        # What the device knows is read after the answer: a payee added while the list
        # was asked for stays, whatever the answer.
        known = [*await self.cache.payees(email), *self.state.payees]
        self.state.set_payees(listed, known)
        await self.cache.save_payees(email, self.state.payees)

    async def add_payee(
        self, account_number: str, holder_name: str, nickname: str
    ) -> PayeeResponse:
        """Save a payee; the answer says whether the name matches (never the real name)."""
        payee = await self.api.add_payee(account_number, holder_name, nickname)
        self._payee_edits += 1
        self.state.add_payee(payee)
        if self.state.email:
            await self.cache.save_payees(self.state.email, self.state.payees)
        return payee

    async def limits(self, account_id: UUID) -> AccountLimitsResponse | None:
        return await self.api.limits(account_id)

    async def pending_holds(self, account_id: UUID) -> list[PendingHoldResponse] | None:
        return await self.api.pending_holds(account_id)

    async def forget_payee(self, account_number: str) -> None:
        await self.api.forget_payee(account_number)
        self._payee_edits += 1
        self.state.remove_payee(account_number)
        if self.state.email:
            await self.cache.save_payees(self.state.email, self.state.payees)

    async def standing_orders(self) -> list[StandingOrderResponse] | None:
        return await self.api.standing_orders()

    async def create_standing_order(
        self, order: StandingOrderByNumberRequest
    ) -> StandingOrderResponse:
        """One key per order the customer confirms: a retry of it is the same order."""
        return await self.api.create_standing_order(order, str(uuid4()))

    async def standing_order(self, order_id: UUID) -> StandingOrderResponse:
        return await self.api.standing_order(order_id)

    async def change_standing_order(
        self, order_id: UUID, change: StandingOrderChange
    ) -> StandingOrderResponse:
        return await self.api.change_standing_order(order_id, change)

    async def cancel_standing_order(self, order_id: UUID) -> StandingOrderResponse:
        return await self.api.cancel_standing_order(order_id)

    async def resume_standing_order(self, order_id: UUID) -> StandingOrderResponse:
        return await self.api.resume_standing_order(order_id)

    async def statement(self, account_id: UUID, month: str, fmt: str) -> bytes:
        return await self.api.statement(account_id, month, fmt)

    async def open_account(self, name: str, currency: str) -> AccountResponse:
        account = await self.api.open_account(name, currency)
        if account.account_number is None:  # a bank whose open answer lacks the number
            try:
                account = await self.api.account(account.id)
            except ApiError as e:  # not readable yet: the next refresh brings it
                log.info("new account not read back: %s", e)
        self.state.accounts[account.id] = account
        self.state.notify("accounts")
        return account

    async def rename_account(self, account_id: UUID, name: str) -> str:
        """The account's new name, as the bank took it (trimmed)."""
        renamed = await self.api.rename_account(account_id, name)
        await self._refetch_account(account_id)
        return renamed.name

    async def close_account(self, account_id: UUID) -> None:
        """Close the account (one key for this tap: a retry of it is the same command)."""
        await self.api.close_account(account_id, str(uuid4()))
        await self._refetch_account(account_id)

    async def transactions(
        self,
        account_id: UUID,
        cursor: str | None = None,
        kind: str | None = None,
        search: str | None = None,
    ) -> TransactionPage:
        """A page of history; the first page is kept on the device and shown from there
        while the bank is unreachable (``next_cursor`` None: nothing more offline)."""
        first = cursor is None and kind is None and search is None
        try:
            page = await self.api.transactions(
                account_id, limit=20, cursor=cursor, kind=kind, search=search
            )
        except Unreachable:
            snap = await self.cache.load(self.state.email) if first and self.state.email else None
            if snap is None or account_id not in snap.history:
                raise
            return TransactionPage(items=snap.history[account_id], next_cursor=None)
        if first and self.state.email:
            await self.cache.save_history(self.state.email, account_id, page.items)
        return page

    async def recent_transactions(self, limit: int) -> list[TransactionResponse]:
        """Recent activity over every account, kept on the device as the first page of an
        account that has none; while the bank is unreachable, the newest of the kept
        histories."""
        owner = self.state.email
        try:
            items = (await self.api.recent_transactions(limit=limit)).items
        except Unreachable:
            kept = await self.cache.recent(owner, limit) if owner else None
            if kept is None:
                raise
            return kept
        if owner:
            await self.cache.keep_recent(owner, items)
        return items

    async def analytics(self, account_id: UUID, start: date, end: date) -> AnalyticsResponse:
        return await self.api.analytics(account_id, start, end)

    # --- money movements ------------------------------------------------------------------

    async def move(
        self,
        kind: MovementKind,
        account: AccountResponse,
        amount: int,
        description: str = "",
        to_account_id: UUID | None = None,
        to_account_number: str | None = None,
        to_name: str = "",
    ) -> QueuedMovement:
        """Queue the movement on the device, then send it if the bank is reachable.
        A transfer goes to one of the customer's accounts (``to_account_id``) or to
        an account number (a payee's, or typed).

        Returns the item: done, rejected (with the reason) or still pending."""
        assert self.state.email is not None
        item = QueuedMovement.new(
            self.state.email,
            kind,
            account.id,
            amount,
            account.balance.currency,
            description,
            to_account_id,
            to_account_number,
            to_name,
            owner_id=self.state.user_id,
        )
        item.deferred = not self.state.online
        self.state.enqueue(item)
        await self.persist_queue()
        if self.state.online:
            try:
                await self.flush()
            except Unreachable:
                self.state.set_online(False)
                self.wake()
            except SessionExpired:
                self._expired()
        if not item.finished:
            item.deferred = True
            self.state.notify("queue")
        return item

    async def flush(self) -> None:
        """Send pending movements in the order they were made; stop at the first one
        whose outcome is unknown (it is retried later with the same key)."""
        async with self._flush_lock:
            for item in self.state.pending():
                item.status = "sending"
                item.attempts += 1
                self.state.notify("queue")
                try:
                    await self._send(item)
                except ApiError as e:
                    if e.status in RETRYABLE_STATUS and not (
                        e.status == 409 and item.attempts >= MAX_CONFLICT_ATTEMPTS
                    ):
                        item.status = "pending"
                        self._after(item)
                        await self.persist_queue()
                        return
                    item.status, item.reason = "rejected", e.reason
                except (Unreachable, SessionExpired):
                    item.status = "pending"
                    self._after(item)
                    await self.persist_queue()
                    raise
                if not item.deferred:
                    # settled on its first attempt: the history shows it, the device need not
                    self.state.queue = [q for q in self.state.queue if q is not item]
                self._after(item)
                await self.persist_queue()

    def _after(self, item: QueuedMovement) -> None:
        self.state.notify("queue", item)

    async def _send(self, item: QueuedMovement) -> None:
        r: MoneyMovementResponse | TransferResponse
        if item.kind == "deposit":
            r = await self.api.deposit(item.account_id, item.amount, item.description, item.key)
        elif item.kind == "withdrawal":
            r = await self.api.withdraw(item.account_id, item.amount, item.description, item.key)
        elif item.to_account_id is not None:
            r = await self.api.transfer(
                item.account_id, item.to_account_id, item.amount, item.description, item.key
            )
        else:
            assert item.to_account_number is not None
            r = await self.api.transfer_to_number(
                item.account_id, item.to_account_number, item.amount, item.description, item.key
            )
        item.status, item.reason, item.balance_after = "done", "", r.balance
        item.available_after = r.available_balance
        if self.state.apply_balance(item.account_id, r.balance, r.version, r.available_balance):
            self._refresh_available(item.account_id)

    def _refresh_available(self, account_id: UUID) -> None:
        """Fetch the account again when the available balance is not known after a
        change (a push or an answer that did not carry it)."""
        if account_id in self.state.available_unknown:
            self.spawn(self._refetch_account(account_id))

    async def _refetch_account(self, account_id: UUID) -> None:
        try:
            self.state.set_accounts([await self.api.account(account_id)])
        except (ApiError, Unreachable, SessionExpired) as e:
            log.info("account not refetched: %s", e)

    # --- staying in sync ---------------------------------------------------------------

    def _start_sync(self) -> None:
        self._stop_sync()
        self._sync_task = self.spawn(self._sync_forever())

    def _stop_sync(self) -> None:
        if self._sync_task is not None and not self._sync_task.done():
            self._sync_task.cancel()
        self._sync_task = None

    def wake(self) -> None:
        """Try to reach the bank now instead of waiting for the next backoff step."""
        self._wake.set()

    async def _pause(self, seconds: float) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _sync_forever(self) -> None:
        backoff = 0.5
        while self.state.signed_in:
            try:
                await self.refresh_accounts()
                backoff = 0.5  # the bank answers: the next failure starts the backoff afresh
                await self.flush()
                try:
                    await self._follow_live()
                except (
                    Unreachable
                ) as e:  # the push dropped; the next refresh tells if we are offline
                    log.info("live connection lost: %s", e)
            except SessionExpired:
                self._expired()
                return
            except Unreachable as e:
                log.info("bank unreachable: %s", e)
                self.state.set_online(False)
            except ApiError as e:  # 5xx / 429 while syncing: wait and try again
                log.warning("sync refused: %s", e)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep the app alive, log and retry
                log.exception("sync loop error")
            await self._pause(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _catch_up_extras(self) -> None:
        """Name, inbox and payees: nice to have, never a reason to drop the live feed."""
        try:
            if not self.state.full_name:
                await self._load_profile()
            await self.load_notifications()
        except ApiError as e:
            log.info("notifications unavailable: %s", e)
        try:
            await self.load_payees()
        except ApiError as e:
            log.info("payees unavailable: %s", e)

    async def _on_live(self, msg: ServerMessage) -> None:
        if isinstance(msg, Welcome):
            self.state.set_online(True, live=True)
            await self.refresh_accounts()  # catch up on anything missed meanwhile
            await self.flush()
            await self._catch_up_extras()
        elif isinstance(msg, NotificationReceived):
            await self._received(msg.notification)
        elif isinstance(msg, BalanceChanged):
            # the posting first: a list that has it when the balance moves need not ask
            # the bank for the change (only a change without its posting sends it asking)
            if msg.transaction is not None:
                self.state.apply_transaction(msg.transaction)
            if self.state.apply_balance(
                msg.account_id, msg.balance, msg.version, msg.available_balance
            ):
                self._refresh_available(msg.account_id)
            if msg.transaction is not None and self.state.email:
                await self.cache.add_transaction(self.state.email, msg.transaction)
        elif isinstance(msg, AccountStatusChanged | AccountNameChanged):
            await self.refresh_accounts()
        elif isinstance(msg, LiveError) and msg.code == "unauthorized":
            if self.api.tokens is None or not self.api.tokens.refresh_token:
                raise SessionExpired(msg.detail)
            await self.api.refresh(seen=self.api.tokens.access_token)  # then reconnect

    async def _follow_live(self) -> None:
        """Apply pushed changes until the connection drops; poll if there is no push."""
        try:
            async for msg in self.api.live(self.state.last_versions()):
                await self._on_live(msg)
        except LiveUnsupported as e:
            log.info("no live push (%s): polling every %.1fs", e, POLL_SECONDS)
            self.state.set_online(True, live=False)
            loop = asyncio.get_running_loop()
            until = loop.time() + RETRY_LIVE_SECONDS
            while loop.time() < until and self.state.signed_in:
                await self._pause(POLL_SECONDS)
                await self.refresh_accounts()
                await self.flush()
        finally:
            self.state.live = False
