"""Controlled-substance accountability (issue 14): the pure domain of the ketamine ledger.

Ketamine is a Schedule III controlled substance; every clinic is a DEA registrant that
must account for every milligram from delivery to the pump or a witnessed waste. This
package holds the rules only (what an entry is, what the ledger balances to, what is
refused): no database, web or CLI code, like `ketaflow.clinical`. The store keeps the
entries append-only; the services feed them here before anything is written.
"""
