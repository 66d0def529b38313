-- A pending transfer the bank voided because its destination closed is notified
-- (server/notifications/rules.py, transfer_cancelled).
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('money_received', 'payment_refused', 'large_withdrawal', 'new_sign_in',
                    'password_changed', 'transfer_cancelled'));
