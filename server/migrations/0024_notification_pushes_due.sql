-- Notifications still to be handed to the pushers (the live push and the push
-- provider): one row each, inserted with the notification and deleted once it is
-- pushed, so the table holds only the pushes in flight. The sweep after a crash reads
-- it instead of notifications.pushed_at, which goes with its partial index: marking a
-- notification pushed updated its row, and since that index's predicate names the
-- column the update could not be HOT - the row written again and an entry added to
-- each of the table's four other indexes, ~13 blocks a notification
-- (pg_stat_statements; docs/adr/0345-notification-pushes-due-as-a-queue.md).
CREATE TABLE notification_pushes_due (
    notification_id bigint PRIMARY KEY
);
INSERT INTO notification_pushes_due (notification_id)
    SELECT id FROM notifications WHERE pushed_at IS NULL;
DROP INDEX notifications_unpushed_idx;
ALTER TABLE notifications DROP COLUMN pushed_at;
