"""Storage: SQLModel tables, the async engine, and the functions that read and write rows.

Rows never leave this package: every public function returns `trainql.domain` objects.
"""
