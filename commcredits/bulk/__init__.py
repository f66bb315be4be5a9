"""PowerShell-style bulk commands over the GraphQL schema (spreadsheets in, reports out)."""
