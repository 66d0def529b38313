-- A customer's accounts in account order, from one index: the development top-up
-- locks every account of its customer (up to 200, in account order) to check the
-- customer's daily cap. With an index on owner_id alone, the planner walked the
-- primary key in account order and filtered by owner - the whole table for a customer
-- with few accounts: 2,626 blocks a call once 16,000 accounts were stored
-- (pg_stat_statements; docs/adr/0344-random-page-cost-for-data-in-memory.md). The
-- index on (owner_id, account_id) gives them in order; it serves every lookup by
-- owner the old one did.
CREATE INDEX account_owners_owner_account_idx ON account_owners (owner_id, account_id);
DROP INDEX account_owners_owner_idx;
