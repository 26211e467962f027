"""The toolkit's own records: the append-only chained file, the access journal, the ledger."""
