-- Account numbers people can read out (issue #17; server/domain/account_number.py).
-- 'XN' + ISO 13616 mod-97 check digits + 'NWBK' + a ten-digit serial from a
-- sequence: no two accounts share one (sequence + UNIQUE). The number lives in the
-- account registry (account_owners) beside the owner, assigned by the column
-- default in the transaction that opens the account; accounts opened before this
-- migration are numbered here, in the order they were opened.
CREATE SEQUENCE account_number_seq;

-- The same digits as server/domain/account_number.from_serial (N=23 W=32 B=11 K=20
-- X=33): bban + country + '00' as one number, mod 97, check = 98 - remainder.
CREATE FUNCTION bank_account_number(serial bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT 'XN'
        || lpad((98 - (('23321120' || lpad(serial::text, 10, '0') || '332300')::numeric
                      % 97))::text, 2, '0')
        || 'NWBK' || lpad(serial::text, 10, '0')
$$;

ALTER TABLE account_owners ADD COLUMN account_number text UNIQUE;

UPDATE account_owners o
   SET account_number = bank_account_number(n.serial)
  FROM (SELECT account_id, nextval('account_number_seq') AS serial
          FROM (SELECT account_id FROM account_owners
                 ORDER BY opened_at, account_id) ordered) n
 WHERE o.account_id = n.account_id;

ALTER TABLE account_owners
    ALTER COLUMN account_number SET DEFAULT bank_account_number(nextval('account_number_seq')),
    ALTER COLUMN account_number SET NOT NULL;
