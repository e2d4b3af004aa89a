"""Use cases: one function per action, each in one transaction, writing the audit trail."""
