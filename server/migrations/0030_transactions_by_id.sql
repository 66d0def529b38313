-- GET /api/v1/accounts/{id}/transactions/{transaction_id} finds a posting by its
-- transaction's id. Without this index that is a scan of the account's postings:
-- 19-20 ms (and a parallel seq scan) for an account of 200,000 postings, against
-- 2 µs more of PostgreSQL's time per posting written with it (docs/adr/1020).
CREATE INDEX transaction_view_transaction_idx ON transaction_view (transaction_id);
