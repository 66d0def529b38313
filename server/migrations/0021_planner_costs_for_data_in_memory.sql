-- The planner's cost of a random page read, for this database: 1.1, not the default 4
-- (which models a spinning disk). The read models and the event store's indexes live
-- in shared_buffers and the page cache, on SSD at worst.
--
-- With 4, a statement's generic plan - the one cached for a prepared statement after
-- its fifth run - joins an unnest() of accounts to account_view with a sequential scan
-- while account_view has fewer than ~2,500 rows: ten index probes are priced above one
-- scan of the table. Nothing re-plans it until autovacuum next analyzes the table, so a
-- table that grows meanwhile is read whole by every projection batch: after 18,000
-- accounts were opened, the projection worker's backend spent 290 µs per deposit
-- instead of 60, reading the whole table twice a batch
-- (docs/adr/0344-random-page-cost-for-data-in-memory.md). With 1.1 the same plans
-- look accounts up by index once the table holds about 600 rows, whatever is stored
-- later (below that, the projection worker's statement lifetime re-plans them).
--
-- A database-level setting, so every environment that runs the migrations has it,
-- and sessions opened after it (every process starts after the migrations) use it.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET random_page_cost = 1.1', current_database());
END
$$;
