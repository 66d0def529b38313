-- Security alerts by email (server/notifications/mail.py): a notification that says how
-- the customer signs in changed (password, email address, two-step sign-in) is also
-- emailed. One row per such notification, inserted in the statement that stores it and
-- deleted once the mail provider took the mail; the sweep sends what is left (a provider
-- that was down, a crash in between), so the mail is sent at least once, never lost.
-- ``address`` is where it goes when that is not the customer's address at send time:
-- a changed email's alert goes to the address the account left.
CREATE TABLE notification_mails_due (
    notification_id bigint PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
    address         text,
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now()
);
