-- A changed password is notified (server/notifications/rules.py, password_changed).
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('money_received', 'payment_refused', 'large_withdrawal', 'new_sign_in',
                    'password_changed'));
