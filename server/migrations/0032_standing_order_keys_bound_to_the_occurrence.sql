-- A standing-order payment's Idempotency-Key is its occurrence ("<order id>:<due date>",
-- scope standing_order). Its request hash covered the transfer the order asked for,
-- amount and reference included; an order's amount can now change, and a payment made
-- but not recorded (the scheduler stopped in between) must still be replayed as it was
-- made. The hash is now of the occurrence alone, as
-- server.application.standing_order_payments.occurrence_request_hash computes it:
-- sha256("standing_order_payment\n" + {"order":"<id>","due":"<date>"} as compact JSON).
-- The keys stored before are bound the same way here, so such a payment, made before
-- this migration, is replayed after it too.
UPDATE idempotency_keys
SET request_hash = sha256(convert_to(
        'standing_order_payment' || chr(10)
        || '{"order":"' || split_part(key, ':', 1) || '","due":"' || split_part(key, ':', 2) || '"}',
        'UTF8'))
WHERE scope = 'standing_order';
