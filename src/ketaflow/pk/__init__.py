"""ketaflow.pk: exact pharmacokinetics of ketamine (being assembled; see issue 3)."""
